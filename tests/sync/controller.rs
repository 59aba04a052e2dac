//! The real `kseal-controller` binary for one test namespace (its keys, unsealer and sync there), with
//! its log captured: for what the in-process sync cannot show (the controller's own AWS identity, its
//! log, its sealing keys across a restart).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kseal_testenv::eventually;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::World;

/// A running controller: keys, unsealer and sync in the world's namespace, the world's moto account
/// as its own AWS identity (the SDK default chain), its stderr in a file.
pub struct Controller {
    child: Child,
    log: tempfile::NamedTempFile,
    /// Where its HTTP API listens.
    pub addr: std::net::SocketAddr,
}

impl Controller {
    /// Starts the controller with `args` added, and waits until it serves its certificate.
    pub async fn start(world: &World, args: &[&str]) -> Self {
        let binary = tokio::task::spawn_blocking(kseal_testenv::controller_binary)
            .await
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut command = world.env.command(&binary);
        command
            .arg("--kubeconfig")
            .arg(world.env.kubeconfig_path())
            .args(["--namespace", &world.namespace])
            .args(["--watch-namespace", &world.namespace])
            .args(["--listen-addr", &addr.to_string()])
            // No metrics listener: tests run controllers side by side.
            .args(["--listen-metrics-addr", ""])
            // Every log line in one stream.
            .arg("--log-info-stdout=false")
            .args(["--key-size", "2048", "--leader-elect", "false"])
            .args(args)
            .env(
                "RUST_LOG",
                "info,kseal_externalsecrets=debug,kseal_controller=debug",
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap());
        for (name, value) in world.account.vars() {
            command.env(name, value);
        }
        let child = command.spawn().unwrap();
        let controller = Controller { child, log, addr };
        eventually("the controller to serve /v1/cert.pem", || async {
            controller.certificate().await
        })
        .await;
        controller
    }

    /// `GET /v1/cert.pem`: the certificate it seals with, once it answers 200.
    pub async fn certificate(&self) -> Option<String> {
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.ok()?;
        let request = "GET /v1/cert.pem HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await.ok()?;
        let (head, body) = raw.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Stops it as the kubelet does (SIGTERM) and waits for the exit; returns the log.
    pub async fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if self.child.try_wait().unwrap().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.log()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
