//! How the fake API server is reached: in process, as a tower `Service` behind `kube::Client`
//! (on the caller's runtime, or on a thread of its own as a real server runs apart from its
//! clients), or over HTTP on a loopback port, with a kubeconfig pointing at it for the binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use http::{Request, Response};
use tokio::sync::{mpsc, oneshot};

use crate::server::{ApiServer, handle};

impl ApiServer {
    fn router(&self) -> Router {
        let server = self.clone();
        Router::new().fallback(move |req: Request<Body>| handle(server.clone(), req))
    }

    /// A kube client served in process, on the current tokio runtime.
    pub fn client(&self) -> kube::Client {
        let router = self.router();
        let svc = tower::ServiceBuilder::new()
            .map_request(|req: Request<kube::client::Body>| req.map(Body::new))
            .service(router);
        kube::Client::new(svc, "default")
    }

    /// A kube client served in process by a thread of its own, as an API server runs apart
    /// from its clients (the client's work is what a benchmark measures); call it on a tokio
    /// runtime.
    pub fn client_apart(&self) -> kube::Client {
        type Call = (Request<Body>, oneshot::Sender<Response<Body>>);
        let (tx, mut rx) = mpsc::unbounded_channel::<Call>();
        let server = self.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the fake API server");
            rt.block_on(async move {
                while let Some((req, reply)) = rx.recv().await {
                    let server = server.clone();
                    tokio::spawn(async move {
                        let _ = reply.send(handle(server, req).await);
                    });
                }
            });
        });
        let svc = tower::service_fn(move |req: Request<kube::client::Body>| {
            let tx = tx.clone();
            async move {
                let (reply, answer) = oneshot::channel();
                tx.send((req.map(Body::new), reply))
                    .map_err(|_| std::io::Error::other("the fake API server is gone"))?;
                answer
                    .await
                    .map_err(|_| std::io::Error::other("the fake API server dropped a request"))
            }
        });
        kube::Client::new(svc, "default")
    }

    /// Serves over HTTP on a loopback port until the returned [`Listening`] is dropped.
    pub async fn listen(&self) -> std::io::Result<Listening> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = self.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Listening {
            addr,
            api: self.clone(),
            task,
        })
    }
}

/// The fake API server listening over HTTP (and still the [`ApiServer`] to set up and
/// inspect); dropped, it stops listening.
pub struct Listening {
    pub addr: SocketAddr,
    api: ApiServer,
    task: tokio::task::JoinHandle<()>,
}

impl std::ops::Deref for Listening {
    type Target = ApiServer;
    fn deref(&self) -> &ApiServer {
        &self.api
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listening {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kube client for this server, over HTTP.
    pub fn http_client(&self) -> kube::Client {
        let url = self.url().parse().expect("a URL");
        kube::Client::try_from(kube::Config::new(url)).expect("a client")
    }

    /// A kubeconfig's text pointing at this server.
    pub fn kubeconfig(&self) -> String {
        kubeconfig(&self.url())
    }
}

/// A kubeconfig's text for an API server at `server` (a URL), namespace `default`.
pub fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\n\
         contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n\
         current-context: fake\nusers:\n- name: fake\n  user:\n    token: fake\n"
    )
}

/// Writes [`kubeconfig`] for `server` to `dir/kubeconfig` (creating `dir`); returns its path.
pub fn write_kubeconfig(dir: &Path, server: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("the kubeconfig's directory");
    let path = dir.join("kubeconfig");
    std::fs::write(&path, kubeconfig(server)).expect("the kubeconfig");
    path
}

/// A loopback port nobody is listening on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
