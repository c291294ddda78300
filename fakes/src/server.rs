//! Serving a fake on a loopback port: bind `127.0.0.1:0` (or a given port), run the axum
//! router in a background task, stop it on drop.
use std::net::SocketAddr;
use tokio::sync::oneshot;

/// A running fake. Dropping it stops the server.
pub struct FakeServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl FakeServer {
    /// Serve `router` on `127.0.0.1:port` (0 = any free port) in a background task.
    pub async fn start(router: axum::Router, port: u16) -> anyhow::Result<FakeServer> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(FakeServer {
            addr,
            stop: Some(tx),
        })
    }

    /// `http://127.0.0.1:PORT` with no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
