use super::*;

#[test]
fn conflict_messages_name_the_managers() {
    assert_eq!(
        conflict_managers(
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: \
             .spec.template.spec.containers[name=\"oomsday-leaker\"].image"
        ),
        vec!["kubectl-edit"]
    );
    assert_eq!(
        conflict_managers(
            "Apply failed with 2 conflicts: conflicts with \"helm\" using apps/v1:\n- .a\n\
             conflicts with \"argocd-controller\" using apps/v1:\n- .b"
        ),
        vec!["helm", "argocd-controller"]
    );
    assert!(conflict_managers("nothing").is_empty());
}
