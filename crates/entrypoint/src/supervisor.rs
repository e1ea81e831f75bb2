//! PID 1 duties: forward signals to the workload, reap every zombie (orphans
//! are re-parented to PID 1 inside the pod), and exit with the workload's status.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};
use signal_hook::iterator::Signals;

/// Signals PID 1 passes on to the workload.
pub const FORWARDED: [i32; 7] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH];

/// Exit code of a process that ended: its code, or 128 + the signal that killed it.
fn exit_code(status: WaitStatus) -> Option<(Pid, i32)> {
    match status {
        WaitStatus::Exited(pid, code) => Some((pid, code)),
        WaitStatus::Signaled(pid, signal, _) => Some((pid, 128 + signal as i32)),
        _ => None,
    }
}

/// Signals registered before any child is started, so none is missed.
pub struct Supervisor {
    signals: Signals,
}

impl Supervisor {
    pub fn new() -> std::io::Result<Self> {
        let mut wanted = FORWARDED.to_vec();
        wanted.push(SIGCHLD);
        Ok(Self { signals: Signals::new(wanted)? })
    }

    /// Reaps every exited child; returns the exit code of `watched` if it was among them.
    fn reap(watched: &[Pid]) -> Vec<(Pid, i32)> {
        let mut ended = Vec::new();
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return ended,
                Ok(status) => {
                    if let Some((pid, code)) = exit_code(status)
                        && watched.contains(&pid)
                    {
                        ended.push((pid, code));
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(_) => return ended,
            }
        }
    }

    /// Starts `command`, forwards signals to it, reaps zombies, and returns its
    /// exit code once it ends. `companion` (dockerd in single-container mode) is
    /// watched too: if it ends first, the workload is told to stop.
    pub fn run(&mut self, mut command: Command, companion: Option<&Child>) -> std::io::Result<i32> {
        let child = command.spawn()?;
        let main = Pid::from_raw(child.id() as i32);
        let companion = companion.map(|c| Pid::from_raw(c.id() as i32));
        let watched: Vec<Pid> = std::iter::once(main).chain(companion).collect();
        for signal in self.signals.forever() {
            if signal == SIGCHLD {
                for (pid, code) in Self::reap(&watched) {
                    if pid == main {
                        return Ok(code);
                    }
                    eprintln!("dockyard-entrypoint: dockerd exited with {code}; stopping the workload");
                    let _ = kill(main, Signal::SIGTERM);
                }
            } else if let Ok(signal) = Signal::try_from(signal) {
                let _ = kill(main, signal);
            }
        }
        unreachable!("Signals::forever never ends")
    }

    /// No workload: stays up (for `kubectl exec`) reaping zombies until SIGTERM or SIGINT.
    pub fn idle(&mut self) -> i32 {
        for signal in self.signals.forever() {
            match signal {
                SIGCHLD => {
                    Self::reap(&[]);
                }
                SIGTERM | SIGINT => return 0,
                _ => {}
            }
        }
        0
    }

    /// Whether SIGTERM or SIGINT arrived (drains pending signals; reaps zombies).
    pub fn terminated(&mut self) -> bool {
        let mut stop = false;
        for signal in self.signals.pending() {
            match signal {
                SIGCHLD => {
                    Self::reap(&[]);
                }
                SIGTERM | SIGINT => stop = true,
                _ => {}
            }
        }
        stop
    }

    /// Stops `child` with SIGTERM, then SIGKILL after `grace`; reaps it.
    pub fn stop(&mut self, child: &Child, grace: Duration) -> Option<i32> {
        let pid = Pid::from_raw(child.id() as i32);
        if kill(pid, Signal::SIGTERM) == Err(Errno::ESRCH) {
            return None; // already ended and reaped
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some((_, code)) = Self::reap(&[pid]).into_iter().next() {
                return Some(code);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("dockyard-entrypoint: pid {pid} ignored SIGTERM for {}s; killing it", grace.as_secs());
        let _ = kill(pid, Signal::SIGKILL);
        waitpid(pid, None).ok().and_then(exit_code).map(|(_, code)| code)
    }
}
