//! Starting a planned container as a host process: in its pod's network namespace, with a mount
//! (and UTS) namespace of its own where the pod's directories are bind-mounted.

use std::ffi::CString;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::plan::ContainerPlan;
use crate::{Context, Result, err};

/// Starts the child in a new session (its own process group), detached from the terminal, so
/// that Ctrl-C reaches only the harness and teardown can stop the whole group.
pub fn detach(cmd: &mut Command) {
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| err!("path {} has a NUL", p.display()))
}

/// The command for a planned container: enters the pod's network namespace, makes a mount (and
/// UTS) namespace of its own, bind-mounts the pod's directories, sets the hostname and working
/// directory, then runs the program with exactly the planned environment. `detached`: in a new
/// session (long-running containers); otherwise in the caller's (exec, init containers).
pub fn command(plan: &ContainerPlan, detached: bool) -> Result<(Command, Option<fs::File>)> {
    let netns = match &plan.netns {
        Some(n) => Some(
            fs::File::open(Path::new("/run/netns").join(n))
                .context(|| format!("opening network namespace {n}"))?,
        ),
        None => None,
    };
    let netns_fd = netns.as_ref().map(|f| f.as_raw_fd());
    let mut mounts = Vec::new();
    for m in &plan.mounts {
        let source = match m.source.strip_prefix(&plan.pod_dir) {
            Ok(rel) if rel.as_os_str().is_empty() => PathBuf::from("."),
            Ok(rel) => rel.to_path_buf(),
            Err(_) => m.source.clone(),
        };
        mounts.push((cstr(&source)?, cstr(&m.target)?, m.read_only));
    }
    let pod_dir = cstr(&plan.pod_dir)?;
    let hostname = plan.hostname.clone();
    let workdir = cstr(&plan.workdir)?;
    let root = CString::new("/").expect("no NUL");
    let mut cmd = Command::new(&plan.argv[0]);
    cmd.args(&plan.argv[1..])
        .env_clear()
        .envs(plan.env.iter().cloned());
    // SAFETY: the closure only makes system calls on data prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let check = |r: libc::c_int| {
                if r < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(())
                }
            };
            if detached {
                check(libc::setsid())?;
            }
            if let Some(fd) = netns_fd {
                check(libc::setns(fd, libc::CLONE_NEWNET))?;
            }
            let flags = libc::CLONE_NEWNS
                | if hostname.is_some() {
                    libc::CLONE_NEWUTS
                } else {
                    0
                };
            check(libc::unshare(flags))?;
            check(libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::chdir(pod_dir.as_ptr()))?;
            for (src, dst, ro) in &mounts {
                check(libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ))?;
                if *ro {
                    // Best effort: some kernels refuse read-only remounts of binds.
                    libc::mount(
                        std::ptr::null(),
                        dst.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                        std::ptr::null(),
                    );
                }
            }
            if let Some(h) = &hostname {
                check(libc::sethostname(h.as_ptr().cast(), h.len()))?;
            }
            check(libc::chdir(workdir.as_ptr()))?;
            Ok(())
        });
    }
    Ok((cmd, netns))
}
