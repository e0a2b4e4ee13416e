//! How a request is answered: scripted answers first, then access reviews, the node proxy,
//! discovery, and the store (lists in pages, get, create, replace, patch, delete); watches are
//! `watch.rs`'s.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::{Body, Bytes};
use http::{Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};

use super::watch::watch;
use super::{ApiServer, CallKey, Reply, Seen, lock};
use crate::lifecycle::status;
use crate::query::{FieldSelector, LabelSelector, query};
use crate::store::{Entry, Gvr, Snapshot};

/// A response whose body bytes are counted as they are sent.
fn respond(r: Reply, counter: Arc<AtomicU64>) -> Response<Body> {
    let body = r.body;
    let stream = futures::stream::once(async move {
        counter.fetch_add(body.len() as u64, Ordering::Relaxed);
        Ok::<Bytes, Infallible>(body)
    });
    Response::builder()
        .status(StatusCode::from_u16(r.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, r.content_type)
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}

/// What a path names.
struct Target {
    gvr: Gvr,
    namespace: Option<String>,
    name: Option<String>,
    /// Subresource and what follows (`status`, `proxy/metrics`).
    sub: Option<String>,
}

fn parse_path(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (gv, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] => ("v1".to_string(), rest.to_vec()),
        ["apis", g, v, rest @ ..] => (format!("{g}/{v}"), rest.to_vec()),
        _ => return None,
    };
    let (namespace, rest) = match rest.as_slice() {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest.to_vec()),
        _ => (None, rest),
    };
    let (plural, name, sub) = match rest.as_slice() {
        [] => (String::new(), None, None),
        [plural] => (plural.to_string(), None, None),
        [plural, name] => (plural.to_string(), Some(name.to_string()), None),
        [plural, name, sub @ ..] => (
            plural.to_string(),
            Some(name.to_string()),
            Some(sub.join("/")),
        ),
    };
    Some(Target {
        gvr: Gvr::owned(&gv, &plural),
        namespace,
        name,
        sub,
    })
}

/// The request's (verb, resource, scope, selector), as it is counted.
fn call_key(method: &Method, path: &str, t: Option<&Target>, seen: &Seen) -> CallKey {
    let Some(t) = t else {
        return CallKey {
            verb: "other",
            resource: path.to_string(),
            scope: String::new(),
            selector: String::new(),
        };
    };
    let mut selector = String::new();
    for (k, name) in [("labelSelector", "label"), ("fieldSelector", "field")] {
        if let Some(v) = seen.q(k).filter(|v| !v.is_empty()) {
            if !selector.is_empty() {
                selector.push(' ');
            }
            selector.push_str(&format!("{name}:{v}"));
        }
    }
    let proxy = t.sub.as_deref().is_some_and(|s| s.starts_with("proxy"));
    let verb = match (method.as_str(), &t.name) {
        _ if proxy => "proxy",
        ("GET", None) if seen.is_watch() => "watch",
        ("GET", None) => "list",
        ("GET", Some(_)) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        _ => "unsupported",
    };
    CallKey {
        verb,
        resource: if proxy {
            format!("{}/proxy", t.gvr.plural)
        } else {
            t.gvr.plural.to_string()
        },
        scope: t.namespace.clone().unwrap_or_else(|| "cluster".into()),
        selector,
    }
}

pub(crate) async fn handle(server: ApiServer, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: query(parts.uri.query()),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    };
    lock(&server.inner.log).push(seen.clone());
    let target = parse_path(&seen.path);
    let key = call_key(&parts.method, &seen.path, target.as_ref(), &seen);
    let answers = server.config().answers.clone();
    for a in answers {
        if let Some(r) = a.answer(&server, &seen).await {
            let c = server.count(key, false, r.code);
            return respond(r, c);
        }
    }
    let Some(t) = target else {
        let msg = format!(
            "the server could not find the requested resource ({})",
            seen.path
        );
        let c = server.count(key, false, 404);
        return respond(Reply::status(404, "NotFound", &msg), c);
    };
    if key.verb == "watch" {
        match server.selection(&t, &seen) {
            Ok(filter) => {
                let c = server.count(key, false, 200);
                return watch(server, filter, &seen, c);
            }
            Err(r) => {
                let c = server.count(key, false, r.code);
                return respond(r, c);
            }
        }
    }
    let first_page = key.verb == "list" && seen.q("continue").is_none_or(str::is_empty);
    let reply = server.answer_request(&parts.method, &t, &seen);
    let c = server.count(key, first_page, reply.code);
    respond(reply, c)
}

impl ApiServer {
    /// Everything but watches and scripted answers.
    fn answer_request(&self, method: &Method, t: &Target, seen: &Seen) -> Reply {
        let plural = t.gvr.plural.as_ref();
        if plural == "selfsubjectaccessreviews" && *method == Method::POST {
            return self.access_review(&seen.body);
        }
        if t.gvr == Gvr::NODES && t.sub.as_deref().is_some_and(|s| s.starts_with("proxy/")) {
            return self.node_proxy(t);
        }
        if plural.is_empty() {
            return self.discovery(&t.gvr.group_version);
        }
        let gv = t.gvr.group_version.as_ref();
        if !Gvr::built_in_group(gv) && !self.config().groups.contains_key(gv) {
            let msg = "the server could not find the requested resource";
            return Reply::status(404, "NotFound", msg);
        }
        let ns = t.namespace.clone().unwrap_or_default();
        let (code, v) = match (method.as_str(), t.name.as_deref()) {
            ("GET", None) => return self.list_reply(t, seen),
            ("POST", None) => {
                let mut st = self.store();
                st.create(&t.gvr, t.namespace.as_deref(), seen.body.clone())
            }
            ("GET", Some(name)) => match self.store().get(&t.gvr, &ns, name) {
                Some(obj) => (200, obj),
                None => (
                    404,
                    status(404, "NotFound", &format!("{plural} \"{name}\" not found")),
                ),
            },
            ("PUT", Some(name)) => self.store().replace(&t.gvr, &ns, name, seen.body.clone()),
            ("PATCH", Some(name)) => self.store().patch(
                &t.gvr,
                (&ns, name, t.sub.as_deref()),
                &seen.content_type,
                &seen.body,
            ),
            ("DELETE", Some(name)) => match self.store().delete(&t.gvr, &ns, name) {
                Some(gone) => (200, gone),
                None => (
                    404,
                    status(404, "NotFound", &format!("{plural} \"{name}\" not found")),
                ),
            },
            (m, _) => (
                405,
                status(405, "MethodNotAllowed", &format!("{m} on {plural}")),
            ),
        };
        Reply::json(code, &v)
    }

    fn access_review(&self, body: &Value) -> Reply {
        let a = &body["spec"]["resourceAttributes"];
        let resource = match a["subresource"].as_str() {
            Some(s) if !s.is_empty() => {
                format!("{}/{s}", a["resource"].as_str().unwrap_or_default())
            }
            _ => a["resource"].as_str().unwrap_or_default().to_string(),
        };
        let asked = format!("{} {resource}", a["verb"].as_str().unwrap_or_default());
        let mut review = body.clone();
        review["status"] = json!({"allowed": !self.config().denied.contains(&asked)});
        Reply::json(201, &review)
    }

    fn node_proxy(&self, t: &Target) -> Reply {
        let node = t.name.clone().unwrap_or_default();
        let path = t.sub.as_deref().unwrap_or_default();
        let path = path.strip_prefix("proxy/").unwrap_or(path);
        let config = self.config();
        if config.denied.contains("get nodes/proxy") {
            return Reply::status(403, "Forbidden", "nodes/proxy is forbidden");
        }
        match config.kubelets.get(&(node.clone(), path.to_string())) {
            Some((code, body)) => Reply::json(*code, body),
            None => Reply::status(404, "NotFound", &format!("{path} on node {node}")),
        }
    }

    fn discovery(&self, gv: &str) -> Reply {
        let config = self.config();
        let Some(resources) = config.groups.get(gv) else {
            return Reply::status(404, "NotFound", &format!("the server could not find {gv}"));
        };
        let resources: Vec<Value> = resources
            .iter()
            .map(|(name, kind)| {
                json!({"name": name, "singularName": "", "namespaced": true, "kind": kind,
                       "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]})
            })
            .collect();
        Reply::json(
            200,
            &json!({"apiVersion": "v1", "kind": "APIResourceList", "groupVersion": gv,
                    "resources": resources}),
        )
    }

    /// What a list or watch selects, or why it is refused.
    fn selection(&self, t: &Target, seen: &Seen) -> Result<Filter, Reply> {
        let gv = t.gvr.group_version.as_ref();
        if !Gvr::built_in_group(gv) && !self.config().groups.contains_key(gv) {
            let msg = "the server could not find the requested resource";
            return Err(Reply::status(404, "NotFound", msg));
        }
        let plural = &t.gvr.plural;
        if t.namespace.is_none() && self.config().denied.contains(&format!("list {plural}")) {
            let msg = format!(
                "{plural} is forbidden: User \"test\" cannot list resource \"{plural}\" at the cluster scope"
            );
            return Err(Reply::status(403, "Forbidden", &msg));
        }
        let bad = |e: String| Reply::status(400, "BadRequest", &e);
        let labels = LabelSelector::parse(seen.q("labelSelector").unwrap_or("")).map_err(bad)?;
        let fields = FieldSelector::parse(seen.q("fieldSelector").unwrap_or(""), &t.gvr.plural)
            .map_err(bad)?;
        Ok(Filter {
            gvr: t.gvr.clone(),
            namespace: t.namespace.clone(),
            labels,
            fields,
        })
    }

    fn list_reply(&self, t: &Target, seen: &Seen) -> Reply {
        match self.selection(t, seen) {
            Ok(filter) => {
                let (code, body) = self.page_of(&filter, seen);
                Reply {
                    code,
                    content_type: "application/json",
                    body,
                }
            }
            Err(r) => r,
        }
    }

    fn page_of(&self, f: &Filter, seen: &Seen) -> (u16, Bytes) {
        let asked: usize = seen.q("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
        let limit = match (asked, self.config().page) {
            (0, cap) => cap.unwrap_or(0),
            (n, cap) => n.min(cap.unwrap_or(usize::MAX)),
        };
        let mut st = self.store();
        let (rv, items, offset) = match seen.q("continue").filter(|c| !c.is_empty()) {
            Some(token) => {
                let id = token
                    .strip_prefix("page-")
                    .and_then(|i| i.parse::<u64>().ok());
                match id.and_then(|id| st.snapshots.remove(&id)) {
                    Some(s) => (s.rv, s.items, s.offset),
                    None => {
                        let msg = "the provided continue parameter is too old";
                        let r = Reply::status(410, "Expired", msg);
                        return (410, r.body);
                    }
                }
            }
            None => {
                let items: Vec<Arc<Entry>> = st
                    .objects
                    .get(&f.gvr)
                    .map(|m| m.values().filter(|e| f.matches(e)).cloned().collect())
                    .unwrap_or_default();
                (st.rv, Arc::new(items), 0)
            }
        };
        let end = if limit == 0 {
            items.len()
        } else {
            (offset + limit).min(items.len())
        };
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if end < items.len() {
            st.next_snapshot += 1;
            let id = st.next_snapshot;
            metadata["continue"] = json!(format!("page-{id}"));
            metadata["remainingItemCount"] = json!(items.len() - end);
            st.snapshots.insert(
                id,
                Snapshot {
                    rv,
                    items: items.clone(),
                    offset: end,
                },
            );
        }
        let kind = st.kind(&f.gvr);
        drop(st);
        let head = format!(
            "{{\"kind\":\"{kind}List\",\"apiVersion\":\"{}\",\"metadata\":{metadata},\"items\":[",
            f.gvr.group_version,
        );
        let size: usize = items[offset..end].iter().map(|e| e.bytes.len() + 1).sum();
        let mut out = Vec::with_capacity(head.len() + size + 2);
        out.extend_from_slice(head.as_bytes());
        for (i, e) in items[offset..end].iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&e.bytes);
        }
        out.extend_from_slice(b"]}");
        (200, Bytes::from(out))
    }
}

/// What a list or watch selects.
#[derive(Debug, Clone)]
pub(super) struct Filter {
    pub(super) gvr: Gvr,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    pub(super) fn matches(&self, e: &Entry) -> bool {
        self.namespace.as_ref().is_none_or(|n| *n == e.namespace)
            && self.labels.matches(&e.labels)
            && self.fields.matches(&e.fields)
    }
}
