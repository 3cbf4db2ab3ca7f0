//! The echo server every target forwards to (and the "direct" target talks to).

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::support::bind_local;

/// UDP echo server: a few threads doing `recv_from`/`send_to` on one socket.
pub struct EchoServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl EchoServer {
    pub fn start(threads: usize) -> Result<Self, String> {
        let socket = bind_local()?;
        let addr = socket
            .local_addr()
            .map_err(|e| format!("echo server: cannot read its address: {e}"))?;
        // The timeout only serves to notice the stop flag.
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| format!("echo server: cannot set a timeout: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::with_capacity(threads);
        for _ in 0..threads {
            let socket = socket
                .try_clone()
                .map_err(|e| format!("echo server: cannot clone its socket: {e}"))?;
            let stop = Arc::clone(&stop);
            handles.push(thread::spawn(move || echo_loop(&socket, &stop)));
        }
        Ok(Self {
            addr,
            stop,
            threads: handles,
        })
    }

    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn echo_loop(socket: &UdpSocket, stop: &AtomicBool) {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((len, peer)) => {
                let _ = socket.send_to(&buf[..len], peer);
            }
            Err(_) => continue,
        }
    }
}
