//! What the API server does to objects written through it: uids, generations and
//! creationTimestamps, resourceVersion conflicts, merge, JSON and apply patches (the status
//! subresource apart), finalizers and deletionTimestamp, garbage collection of owned objects,
//! and namespaces (nothing created in a missing or terminating one; deleting one deletes
//! everything in it).

use serde_json::{Value, json};

use crate::store::{Gvr, Store};

/// An answer: status code and body.
pub(crate) type Answer = (u16, Value);

/// A `Status` object, as the API server answers failures.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn fail(code: u16, reason: &str, message: String) -> Answer {
    (code, status(code, reason, &message))
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

impl Store {
    /// A create (POST): 409 if it exists, 404/403 if its namespace is missing or terminating.
    pub fn create(&mut self, gvr: &Gvr, namespace: Option<&str>, mut obj: Value) -> Answer {
        let Some(name) = obj["metadata"]["name"].as_str().map(String::from) else {
            return fail(422, "Invalid", "metadata.name is required".into());
        };
        let ns = namespace
            .or_else(|| obj["metadata"]["namespace"].as_str())
            .unwrap_or_default()
            .to_string();
        if *gvr != Gvr::NAMESPACES && !ns.is_empty() {
            let terminating = self
                .entry(&Gvr::NAMESPACES, "", &ns)
                .map(|n| n.value()["metadata"].get("deletionTimestamp").is_some());
            match terminating {
                None => return fail(404, "NotFound", format!("namespaces \"{ns}\" not found")),
                Some(true) => {
                    let msg = format!("namespace {ns} is being terminated");
                    return fail(403, "Forbidden", msg);
                }
                Some(false) => {}
            }
        }
        if self.entry(gvr, &ns, &name).is_some() {
            let msg = format!("{} \"{name}\" already exists", gvr.plural);
            return fail(409, "AlreadyExists", msg);
        }
        self.uid += 1;
        let meta = &mut obj["metadata"];
        meta["uid"] = json!(format!("uid-{}", self.uid));
        meta["creationTimestamp"] = json!(now());
        meta["generation"] = json!(1);
        if !ns.is_empty() {
            meta["namespace"] = json!(ns);
        }
        (201, self.put(gvr, obj, false))
    }

    /// Stores a changed object: generation bumped when the spec changed, removed when it is
    /// being deleted and no finalizer is left.
    pub fn update(&mut self, gvr: &Gvr, mut obj: Value, status_only: bool) -> Value {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let (ns, name) = (
            s(&obj["metadata"]["namespace"]),
            s(&obj["metadata"]["name"]),
        );
        let old = self.get(gvr, &ns, &name).unwrap_or(Value::Null);
        if !status_only && old["spec"] != obj["spec"] {
            let g = old["metadata"]["generation"].as_i64().unwrap_or(0);
            obj["metadata"]["generation"] = json!(g + 1);
        }
        let deleting = obj["metadata"].get("deletionTimestamp").is_some();
        let finalizers = obj["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if deleting && !finalizers {
            let gone = self.remove(gvr, obj).unwrap_or(Value::Null);
            self.collect_garbage(&gone);
            self.namespace_done(&ns);
            gone
        } else {
            self.put(gvr, obj, false)
        }
    }

    /// A delete: marked, and gone once no finalizer is left (namespaces: everything in them).
    pub fn delete(&mut self, gvr: &Gvr, ns: &str, name: &str) -> Option<Value> {
        let mut obj = self.get(gvr, ns, name)?;
        if obj["metadata"].get("deletionTimestamp").is_none() {
            obj["metadata"]["deletionTimestamp"] = json!(now());
        }
        if *gvr == Gvr::NAMESPACES {
            obj["status"]["phase"] = json!("Terminating");
            let inside: Vec<_> = self
                .keys()
                .into_iter()
                .filter(|(g, (n, _))| n == name && *g != Gvr::NAMESPACES)
                .collect();
            self.put(gvr, obj.clone(), false);
            for (g, (n, o)) in inside {
                self.delete(&g, &n, &o);
            }
            self.namespace_done(name);
            return self.get(gvr, ns, name).or(Some(obj));
        }
        Some(self.update(gvr, obj, true))
    }

    /// Background deletion of everything `owner` owned.
    fn collect_garbage(&mut self, owner: &Value) {
        let uid = &owner["metadata"]["uid"];
        let owned: Vec<_> = self
            .objects
            .iter()
            .flat_map(|(g, m)| m.iter().map(move |(k, e)| (g, k, e)))
            .filter(|(_, _, e)| {
                e.value()["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == *uid))
            })
            .map(|(g, k, _)| (g.clone(), k.clone()))
            .collect();
        for (g, (n, o)) in owned {
            self.delete(&g, &n, &o);
        }
    }

    /// A terminating namespace goes once nothing is left in it.
    fn namespace_done(&mut self, ns: &str) {
        let Some(obj) = self.get(&Gvr::NAMESPACES, "", ns) else {
            return;
        };
        let terminating = obj["metadata"].get("deletionTimestamp").is_some();
        let empty = !self
            .keys()
            .iter()
            .any(|(g, (n, _))| n == ns && *g != Gvr::NAMESPACES);
        if terminating && empty {
            self.remove(&Gvr::NAMESPACES, obj);
        }
    }

    /// PUT: conditional on the resourceVersion the client read.
    pub fn replace(&mut self, gvr: &Gvr, ns: &str, name: &str, body: Value) -> Answer {
        let Some(obj) = self.get(gvr, ns, name) else {
            return fail(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", gvr.plural),
            );
        };
        if body["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"] {
            return fail(409, "Conflict", "the object has been modified".into());
        }
        (200, self.update(gvr, body, false))
    }

    /// PATCH of an object or its status subresource.
    pub fn patch(
        &mut self,
        gvr: &Gvr,
        (ns, name, sub): (&str, &str, Option<&str>),
        content_type: &str,
        body: &Value,
    ) -> Answer {
        let Some(mut obj) = self.get(gvr, ns, name) else {
            return fail(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", gvr.plural),
            );
        };
        match apply_patch(&mut obj, content_type, body, sub) {
            Ok(()) => (200, self.update(gvr, obj, sub == Some("status"))),
            Err(e) => fail(422, "Invalid", e),
        }
    }
}

fn apply_patch(
    obj: &mut Value,
    content_type: &str,
    body: &Value,
    sub: Option<&str>,
) -> Result<(), String> {
    if content_type.starts_with("application/apply-patch") {
        // oomsday applies status with force as its only manager: the applied fields win.
        match sub {
            Some("status") => obj["status"] = body["status"].clone(),
            _ => json_patch::merge(obj, body),
        }
        return Ok(());
    }
    if content_type.starts_with("application/json-patch") {
        return json_patch(obj, body);
    }
    let patch = match sub {
        Some("status") => json!({"status": body["status"].clone()}),
        _ => body.clone(),
    };
    json_patch::merge(obj, &patch);
    Ok(())
}

/// A JSON patch as the API server applies it: `test` of null on a missing path passes (kube's
/// finalizer helper relies on it; the json-patch crate does not).
pub fn json_patch(obj: &mut Value, ops: &Value) -> Result<(), String> {
    let ops: Vec<Value> = ops
        .as_array()
        .into_iter()
        .flatten()
        .filter(|op| {
            let path = op["path"].as_str().unwrap_or_default();
            !(op["op"] == "test" && op["value"].is_null() && obj.pointer(path).is_none())
        })
        .cloned()
        .collect();
    let patch: json_patch::Patch =
        serde_json::from_value(Value::Array(ops)).map_err(|e| e.to_string())?;
    json_patch::patch(obj, &patch).map_err(|e| e.to_string())
}
