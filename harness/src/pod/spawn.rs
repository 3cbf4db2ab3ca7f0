//! Starting a planned container as a host process: in its pod's network namespace, with a mount
//! (and UTS) namespace of its own where the pod's directories are bind-mounted.
//!
//! The system calls go through rustix; what remains `unsafe` is `Command::pre_exec` itself,
//! which std declares unsafe because the closure runs in the forked child of a process that may
//! have other threads: it must only make async-signal-safe calls and must not allocate. No
//! safe wrapper can promise that for an arbitrary closure, so each closure here is checked by
//! hand: only system calls on data prepared (as C strings) before the fork.

use std::ffi::{CStr, CString};
use std::fs;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow};
use rustix::mount::{MountFlags, MountPropagationFlags};
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

use super::plan::ContainerPlan;

/// Starts the child in a new session (its own process group), detached from the terminal, so
/// that Ctrl-C reaches only the harness and teardown can stop the whole group.
pub fn detach(cmd: &mut Command) {
    // SAFETY: the closure makes one async-signal-safe system call (setsid) and allocates
    // nothing (see the module's note).
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid()?;
            Ok(())
        });
    }
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| anyhow!("path {} has a NUL", p.display()))
}

/// The command for a planned container: enters the pod's network namespace, makes a mount (and
/// UTS) namespace of its own, bind-mounts the pod's directories, sets the hostname and working
/// directory, then runs the program with exactly the planned environment. `detached`: in a new
/// session (long-running containers); otherwise in the caller's (exec, init containers). The
/// command holds the pod's network namespace open until it is dropped.
pub fn command(plan: &ContainerPlan, detached: bool) -> Result<Command> {
    let netns = match &plan.netns {
        Some(n) => Some(
            fs::File::open(Path::new("/run/netns").join(n))
                .with_context(|| format!("opening network namespace {n}"))?,
        ),
        None => None,
    };
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
    let mut cmd = Command::new(&plan.argv[0]);
    cmd.args(&plan.argv[1..])
        .env_clear()
        .envs(plan.env.iter().cloned());
    // SAFETY: the closure only makes system calls on data prepared before the fork (the
    // namespace file, C strings, the hostname's bytes) and allocates nothing (see the module's
    // note). `unshare_unsafe` is given only NEWNS and NEWUTS, never FILES, so no descriptor
    // table is split from another thread's.
    unsafe {
        cmd.pre_exec(move || {
            if detached {
                rustix::process::setsid()?;
            }
            if let Some(netns) = &netns {
                rustix::thread::move_into_link_name_space(
                    netns.as_fd(),
                    Some(LinkNameSpaceType::Network),
                )?;
            }
            let mut flags = UnshareFlags::NEWNS;
            if hostname.is_some() {
                flags |= UnshareFlags::NEWUTS;
            }
            rustix::thread::unshare_unsafe(flags)?;
            rustix::mount::mount_change(
                c"/",
                MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
            )?;
            rustix::process::chdir(pod_dir.as_c_str())?;
            for (src, dst, ro) in &mounts {
                rustix::mount::mount_bind_recursive(src.as_c_str(), dst.as_c_str())?;
                if *ro {
                    // Best effort: some kernels refuse read-only remounts of binds.
                    let no_data: &CStr = c"";
                    let _ = rustix::mount::mount_remount(
                        dst.as_c_str(),
                        MountFlags::BIND | MountFlags::RDONLY,
                        no_data,
                    );
                }
            }
            if let Some(h) = &hostname {
                rustix::system::sethostname(h.as_bytes())?;
            }
            rustix::process::chdir(workdir.as_c_str())?;
            Ok(())
        });
    }
    Ok(cmd)
}
