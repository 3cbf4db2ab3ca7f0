//! The load generator: one closed-loop flow sends a datagram, waits for its echo and repeats,
//! counting round-trip times and losses.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use crate::PAYLOAD;
use crate::support::bind_local;

/// One closed-loop flow: a connected client socket and its sequence number.
pub struct Flow {
    socket: UdpSocket,
    seq: u64,
    id: u16,
}

/// What one flow saw during one measured round.
#[derive(Default)]
pub struct FlowStats {
    /// Round-trip times in nanoseconds of the echoes counted.
    pub latencies: Vec<u32>,
    /// Datagrams sent in the measured window whose echo did not come in time.
    pub losses: u64,
    /// Send or receive errors other than a timeout (counted as losses too).
    pub errors: u64,
}

impl Flow {
    pub fn open(id: u16, target: SocketAddr, timeout: Duration) -> Result<Self, String> {
        let socket = bind_local()?;
        socket
            .connect(target)
            .and_then(|()| socket.set_read_timeout(Some(timeout)))
            .map_err(|e| format!("cannot set up a client socket for {target}: {e}"))?;
        Ok(Self { socket, seq: 0, id })
    }

    /// Runs the closed loop until `end`; counts what starts after `measure_from`.
    pub fn run(&mut self, measure_from: Instant, end: Instant, timeout: Duration) -> FlowStats {
        let mut stats = FlowStats::default();
        let mut out = [0u8; PAYLOAD];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = i as u8;
        }
        out[..2].copy_from_slice(&self.id.to_be_bytes());
        let mut buf = [0u8; 2048];
        loop {
            let sent = Instant::now();
            if sent >= end {
                break;
            }
            let measured = sent >= measure_from;
            self.seq += 1;
            let seq = self.seq.to_be_bytes();
            out[2..10].copy_from_slice(&seq);
            if self.socket.send(&out).is_err() {
                if measured {
                    stats.errors += 1;
                    stats.losses += 1;
                }
                thread::sleep(Duration::from_millis(1));
                continue;
            }
            // Wait for the echo of this datagram, skipping late echoes of
            // earlier ones that timed out.
            let outcome = loop {
                match self.socket.recv(&mut buf) {
                    Ok(len) if len == PAYLOAD && buf[2..10] == seq => break Ok(Instant::now()),
                    Ok(_) if sent.elapsed() < timeout => continue,
                    Ok(_) => break Err(false),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        break Err(false);
                    }
                    Err(_) => break Err(true),
                }
            };
            match outcome {
                Ok(received) => {
                    if measured && received <= end {
                        let nanos = received.duration_since(sent).as_nanos();
                        stats
                            .latencies
                            .push(u32::try_from(nanos).unwrap_or(u32::MAX));
                    }
                }
                Err(error) => {
                    if measured {
                        stats.losses += 1;
                        stats.errors += u64::from(error);
                    }
                    if error {
                        // ICMP port unreachable and the like: do not spin.
                        thread::sleep(Duration::from_millis(1));
                    }
                }
            }
        }
        stats
    }
}
