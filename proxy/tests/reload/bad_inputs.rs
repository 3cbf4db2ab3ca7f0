//! What else can happen to a config file: its directory goes away and comes back, it turns
//! into a directory or a symlink loop, it is huge, it changes twice at once or a hundred times
//! in a row, or it changes where no inotify event reports it (SIGHUP and poll mode). The
//! running config must stay in force until a good file arrives, and traffic must flow.

use std::os::unix::fs::symlink;
use std::time::Duration;

use l7mp::reload::ReloadOptions;
use l7mp::reload::watch::WatchMode;
use l7mp_config::load::sha256_hex;
use tokio::time::Instant;

use super::*;

/// A proxy serving `a` on `port`, routed to `echo`, whose config is a ConfigMap volume in
/// `dir`.
async fn serving_a(dir: &std::path::Path, port: u16, echo: SocketAddr) -> ConfigMapVolume {
    ConfigMapVolume::new(
        dir,
        "config.yaml",
        &config(&[udp_listener("a", port, echo)]),
    )
}

/// A first swap to the same listener `a` (a comment changes), seen through the watch: the
/// controller is running and the config file watched.
async fn warm_up(volume: &mut ConfigMapVolume, proxy: &Reloading, port: u16, echo: SocketAddr) {
    volume.update(&format!(
        "# warm-up\n{}",
        config(&[udp_listener("a", port, echo)])
    ));
    proxy.generation_reaches(2).await;
}

#[tokio::test]
async fn a_deleted_and_recreated_config_directory_is_followed_again() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("config");
    std::fs::create_dir(&dir).unwrap();
    let echo = udp_echo("e: ").await;
    let (p1, p2, p3) = (reserved_port(), reserved_port(), reserved_port());
    let mut volume = serving_a(&dir, p1, echo).await;
    // A re-check period long enough to tell an inotify pick-up from a re-check.
    let recheck = Duration::from_secs(3);
    let proxy = Reloading::start_with(ReloadOptions {
        recheck,
        ..options(volume.path(), Duration::from_secs(1))
    })
    .await;
    // A first swap, seen through the watch: the directory is watched.
    warm_up(&mut volume, &proxy, p1, echo).await;
    let client = udp_client(local(p1)).await;

    // Gone: reading fails, which is counted, and the running config stays.
    std::fs::remove_dir_all(&dir).unwrap();
    proxy.failures_reach(1).await;
    assert!(
        proxy.status.last_error().unwrap().contains("cannot read"),
        "{:?}",
        proxy.status.last_error()
    );
    assert_eq!(proxy.status.generation(), 2);
    assert_eq!(udp_roundtrip(&client, b"x").await, "e: x");

    // Back with a new config: the periodic re-check re-arms the watch and reads it.
    std::fs::create_dir(&dir).unwrap();
    let mut volume = ConfigMapVolume::new(
        &dir,
        "config.yaml",
        &config(&[udp_listener("a", p1, echo), udp_listener("b", p2, echo)]),
    );
    let status = proxy.status.clone();
    tokio::time::timeout(recheck * 2, async {
        while status.generation() < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the re-created directory is read at the next re-check");
    assert_eq!(first_reply(p2, b"b").await, "e: b");

    // The watch is on the new directory: a swap is seen at once, not at the next re-check.
    let swapped = Instant::now();
    volume.update(&config(&[
        udp_listener("a", p1, echo),
        udp_listener("c", p3, echo),
    ]));
    proxy.generation_reaches(4).await;
    assert!(
        swapped.elapsed() < recheck / 2,
        "the swap took {:?}: only the re-check saw it, so the watch was not re-armed",
        swapped.elapsed()
    );
    assert_eq!(first_reply(p3, b"c").await, "e: c");
    assert_eq!(udp_roundtrip(&client, b"y").await, "e: y");
    assert_eq!(proxy.status.reloads_ok.get(), 4);
    assert!(proxy.status.last_ok());
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_directory_in_place_of_the_file_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let echo = udp_echo("e: ").await;
    let (p1, p2) = (reserved_port(), reserved_port());
    let volume = serving_a(dir.path(), p1, echo).await;
    let path = volume.path();
    let proxy = Reloading::start(path.clone(), Duration::from_secs(1)).await;
    let client = udp_client(local(p1)).await;

    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    std::fs::write(
        path.join("config.yaml"),
        config(&[udp_listener("b", p2, echo)]),
    )
    .unwrap();
    proxy.failures_reach(1).await;
    let error = proxy.status.last_error().unwrap();
    assert!(error.contains("is a directory"), "{error}");
    assert_eq!(proxy.status.generation(), 1);
    assert!(!proxy.status.last_ok());
    assert!(proxy.view.listener("b").is_none());
    assert_eq!(udp_roundtrip(&client, b"x").await, "e: x");

    // A file again: applied.
    std::fs::remove_dir_all(&path).unwrap();
    std::fs::write(&path, config(&[udp_listener("b", p2, echo)])).unwrap();
    proxy.generation_reaches(2).await;
    assert_eq!(first_reply(p2, b"b").await, "e: b");
    assert_eq!(proxy.status.reloads_failed.get(), 1);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_symlink_loop_at_the_config_path_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let echo = udp_echo("e: ").await;
    let (p1, p2) = (reserved_port(), reserved_port());
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config(&[udp_listener("a", p1, echo)])).unwrap();
    let proxy = Reloading::start(path.clone(), Duration::from_secs(1)).await;
    let client = udp_client(local(p1)).await;

    // config.yaml -> loop.yaml -> config.yaml, put in place by a rename.
    let tmp = dir.path().join(".config.yaml.tmp");
    symlink("loop.yaml", &tmp).unwrap();
    symlink("config.yaml", dir.path().join("loop.yaml")).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    proxy.failures_reach(1).await;
    let error = proxy.status.last_error().unwrap();
    assert!(error.contains("cannot read"), "{error}");
    assert_eq!(proxy.status.generation(), 1);
    assert_eq!(udp_roundtrip(&client, b"x").await, "e: x");

    // The loop stays: the same failure is not counted again at every re-check.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(proxy.status.reloads_failed.get(), 1);

    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, config(&[udp_listener("b", p2, echo)])).unwrap();
    proxy.generation_reaches(2).await;
    assert_eq!(first_reply(p2, b"b").await, "e: b");
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_50_mb_file_is_rejected_without_being_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let echo = udp_echo("e: ").await;
    let (p1, p2) = (reserved_port(), reserved_port());
    let mut volume = serving_a(dir.path(), p1, echo).await;
    let proxy = Reloading::start(volume.path(), Duration::from_secs(1)).await;
    let client = udp_client(local(p1)).await;

    // A valid config padded with comments to 50 MB: had it been parsed, it would apply.
    let mut big = config(&[udp_listener("a", p1, echo), udp_listener("b", p2, echo)]);
    let line = format!("# {}\n", "x".repeat(97));
    big.reserve(50_000_000);
    while big.len() < 50_000_000 {
        big.push_str(&line);
    }
    assert!(l7mp_config::load_str("big.yaml", &big[..4096]).is_ok());
    volume.update(&big);
    proxy.failures_reach(1).await;
    let error = proxy.status.last_error().unwrap();
    assert!(
        error.contains(&format!("is {} bytes, more than the", big.len())),
        "{error}"
    );
    assert_eq!(proxy.status.generation(), 1);
    assert!(proxy.view.listener("b").is_none());
    assert_eq!(udp_roundtrip(&client, b"x").await, "e: x");
    proxy.shutdown().await;
}

#[tokio::test]
async fn two_swaps_within_the_debounce_window_make_one_reload_of_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let echo = udp_echo("e: ").await;
    let (p1, p2, p3) = (reserved_port(), reserved_port(), reserved_port());
    let mut volume = serving_a(dir.path(), p1, echo).await;
    let debounce = Duration::from_millis(300);
    let proxy = Reloading::start_with(ReloadOptions {
        debounce,
        // No re-check may fall between the two swaps.
        recheck: Duration::from_secs(3600),
        ..options(volume.path(), Duration::from_secs(1))
    })
    .await;
    // A first swap, seen through the watch: the controller is running.
    warm_up(&mut volume, &proxy, p1, echo).await;

    volume.update(&config(&[
        udp_listener("a", p1, echo),
        udp_listener("b", p2, echo),
    ]));
    volume.update(&config(&[
        udp_listener("a", p1, echo),
        udp_listener("c", p3, echo),
    ]));
    proxy.generation_reaches(3).await;
    tokio::time::sleep(debounce * 3).await;
    assert_eq!(proxy.status.generation(), 3, "one reload");
    assert_eq!(proxy.status.reloads_ok.get(), 3);
    assert_eq!(proxy.status.reloads_failed.get(), 0);
    let summary = proxy.status.last_summary().unwrap();
    assert_eq!(
        (summary.listeners_kept, summary.listeners_added),
        (1, 1),
        "{summary}"
    );
    assert!(proxy.view.listener("b").is_none());
    assert_eq!(first_reply(p3, b"c").await, "e: c");
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_hundred_swaps_in_ten_seconds_end_on_the_last_content_and_never_stop_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (e1, e2, last) = (
        udp_echo("1: ").await,
        udp_echo("2: ").await,
        udp_echo("last: ").await,
    );
    let (pa, pb) = (reserved_port(), reserved_port());
    let volume = serving_a(dir.path(), pa, e1).await;
    let proxy = Reloading::start(volume.path(), Duration::from_millis(200)).await;
    let content = move |i: usize| {
        let to = match i {
            99 => last,
            i if i.is_multiple_of(2) => e1,
            _ => e2,
        };
        format!(
            "# swap {i}\n{}",
            config(&[udp_listener("a", pa, e1), udp_listener("b", pb, to)])
        )
    };
    let final_sha256 = sha256_hex(content(99).as_bytes());
    let swaps = tokio::spawn(async move {
        let mut volume = volume;
        for i in 0..100 {
            volume.update(&content(i));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        volume
    });

    // One session through the listener that never changes, answering all along.
    let client = udp_client(local(pa)).await;
    let mut sent = 0u64;
    while !swaps.is_finished() {
        let msg = format!("m{sent}");
        assert_eq!(
            udp_roundtrip(&client, msg.as_bytes()).await,
            format!("1: {msg}")
        );
        sent += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _volume = swaps.await.unwrap();
    let status = proxy.status.clone();
    eventually("the last content in force", || {
        status.sha256() == final_sha256
    })
    .await;
    assert!(!proxy.task.is_finished(), "the controller is still running");
    let generation = proxy.status.generation();
    assert!((2..=101).contains(&generation), "generation {generation}");
    assert_eq!(proxy.status.reloads_ok.get(), generation);
    assert_eq!(proxy.status.reloads_failed.get(), 0);
    assert!(proxy.status.last_ok());
    assert_eq!(first_reply(pb, b"b").await, "last: b");
    let a = proxy.view.listener("a").unwrap();
    assert_eq!(a.stats.sessions_total.get(), 1, "the session lived through");
    assert_eq!(a.stats.traffic.rx_packets.get(), sent);
    assert!(sent > 100, "{sent} round trips in 10 s");
    proxy.shutdown().await;
}

#[tokio::test]
async fn sighup_forces_a_re_read_when_no_event_arrived() {
    // Alone in the process: every controller sees the signal.
    let exclusive = SIGNALS.write().await;
    // A SIGHUP handler of our own first, so the signal cannot end the test process whatever
    // state the controller is in.
    let mut own = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let echo = udp_echo("e: ").await;
    let (p1, p2, p3) = (reserved_port(), reserved_port(), reserved_port());
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config(&[udp_listener("a", p1, echo)])).unwrap();
    let hour = Duration::from_secs(3600);
    let proxy = Reloading::launch(
        ReloadOptions {
            mode: WatchMode::Poll,
            recheck: hour,
            debounce: hour,
            ..options(path.clone(), Duration::from_secs(1))
        },
        None,
    )
    .await;
    // Changed after the proxy loaded the file but before its controller ran: the controller
    // checks the file once when it starts, not only after the first (hour-long) period.
    std::fs::write(
        &path,
        config(&[udp_listener("a", p1, echo), udp_listener("b", p2, echo)]),
    )
    .unwrap();
    proxy.generation_reaches(2).await;

    // Changed again: nothing notices it (no watch, no poll due) ...
    std::fs::write(
        &path,
        config(&[udp_listener("a", p1, echo), udp_listener("c", p3, echo)]),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(proxy.status.generation(), 2, "nothing noticed the change");

    // The controller may not have installed its handler yet: signal until it reloads.
    let deadline = Instant::now() + WAIT;
    let mut signals = 0;
    while proxy.status.generation() < 3 {
        assert!(
            Instant::now() < deadline,
            "no reload after {signals} SIGHUPs"
        );
        // SAFETY: kill(2) with our own pid and a signal that has a handler.
        assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGHUP) }, 0);
        signals += 1;
        let _ = tokio::time::timeout(Duration::from_millis(200), own.recv()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(proxy.status.generation(), 3);
    assert_eq!(proxy.status.reloads_ok.get(), 3);
    assert_eq!(proxy.status.reloads_failed.get(), 0);
    assert_eq!(first_reply(p3, b"c").await, "e: c");
    assert!(proxy.view.listener("b").is_none());

    // Unchanged content: another SIGHUP re-reads but reloads nothing.
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGHUP) }, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(proxy.status.generation(), 3);
    proxy.shutdown().await;
    drop(exclusive);
}

#[tokio::test]
async fn poll_mode_picks_up_a_change_without_inotify() {
    let dir = tempfile::tempdir().unwrap();
    let echo = udp_echo("e: ").await;
    let (p1, p2) = (reserved_port(), reserved_port());
    let mut volume = serving_a(dir.path(), p1, echo).await;
    let proxy = Reloading::start_with(ReloadOptions {
        mode: WatchMode::Poll,
        recheck: Duration::from_millis(200),
        // Were an event to arrive, it would only be acted on after an hour.
        debounce: Duration::from_secs(3600),
        ..options(volume.path(), Duration::from_secs(1))
    })
    .await;

    volume.update(&config(&[
        udp_listener("a", p1, echo),
        udp_listener("b", p2, echo),
    ]));
    proxy.generation_reaches(2).await;
    assert_eq!(first_reply(p2, b"b").await, "e: b");

    // Identical content at every poll: no further reloads.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(proxy.status.generation(), 2);
    assert_eq!(proxy.status.reloads_ok.get(), 2);
    assert_eq!(proxy.status.reloads_failed.get(), 0);
    proxy.shutdown().await;
}
