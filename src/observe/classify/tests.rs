//! What the classifier's tests share: real objects recorded from a v1.32 cluster under a leak
//! (see tests/fixtures/README.md), and a classifier past its first lists.

use serde::de::DeserializeOwned;

use super::{Classifier, ObjectKind, TargetRef};
use crate::spec::TargetKind;
pub(crate) use crate::testkit::ts;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/kubernetes-v1.32/",
            $name
        ))
    };
}
pub(crate) use fixture;

/// The `items` of a `kubectl get -o json` list, or the single object.
pub(crate) fn items<T: DeserializeOwned>(json: &str) -> Vec<T> {
    let v: serde_json::Value = serde_json::from_str(json).expect("fixture is JSON");
    match v.get("items") {
        Some(items) => serde_json::from_value(items.clone()).expect("fixture items"),
        None => vec![serde_json::from_value(v).expect("fixture object")],
    }
}

/// A classifier of the Deployment `app` in `default`, past its first lists: what it is given
/// next are changes, not the baseline.
pub(crate) fn classifier(app: &str) -> Classifier {
    classifier_in("default", app, ts("2026-11-24T13:30:00Z"))
}

/// A classifier of the Deployment `app` (selected by `app=<app>`) in `namespace`, observing
/// since `since`, past its first lists.
pub(crate) fn classifier_in(namespace: &str, app: &str, since: crate::observe::Time) -> Classifier {
    let target = TargetRef {
        workload: crate::spec::WorkloadRef {
            namespace: namespace.into(),
            kind: TargetKind::Deployment,
            name: app.into(),
        },
        selector: [("app".to_string(), app.to_string())].into_iter().collect(),
        template_labels: [("app".to_string(), app.to_string())].into(),
    };
    let mut c = Classifier::new(target, since);
    // The first lists are in: what follows are changes, not the baseline.
    for kind in [
        ObjectKind::Pod,
        ObjectKind::Node,
        ObjectKind::Event,
        ObjectKind::Budget,
        ObjectKind::Workload,
    ] {
        c.relist_done(kind, since);
    }
    c
}
