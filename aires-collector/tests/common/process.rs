//! The collector binary as a process of its own, to be killed with SIGKILL
//! at the worst moment and started again.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// A running `aires-collector` process.
pub struct CollectorProcess {
    child: Child,
    /// `http://host:port` of its gRPC listener.
    pub grpc: String,
    /// Its metrics listener.
    pub metrics: std::net::SocketAddr,
    /// Everything it has logged so far.
    pub log: Arc<Mutex<String>>,
}

impl CollectorProcess {
    /// Starts the binary with `args` (listening on loopback ports of its
    /// own) and waits until it listens.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_aires-collector"))
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .args(args)
            .env("NO_COLOR", "1")
            .env("AIRES_COLLECTOR_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("the collector binary starts");
        let log = Arc::new(Mutex::new(String::new()));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (mut grpc, mut metrics) = (None, None);
        for line in lines.by_ref() {
            let line = line.unwrap();
            log.lock().unwrap().push_str(&line);
            log.lock().unwrap().push('\n');
            for word in line.split_whitespace() {
                if let Some(addr) = word.strip_prefix("grpc=") {
                    grpc = Some(format!("http://{addr}"));
                }
                if let Some(addr) = word.strip_prefix("metrics=") {
                    metrics = Some(addr.parse().unwrap());
                }
            }
            if grpc.is_some() && metrics.is_some() {
                break;
            }
        }
        // Keep reading its log so it never blocks on a full pipe.
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut log = kept.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        CollectorProcess {
            child,
            grpc: grpc.unwrap_or_else(|| panic!("no listening line:\n{}", log.lock().unwrap())),
            metrics: metrics.expect("the collector prints its metrics address"),
            log,
        }
    }

    /// SIGKILL: no drain, no flush, nothing written after this.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it has logged.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for CollectorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
