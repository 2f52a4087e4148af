//! Graph rules as configs write them: keys checked against their kind.

use super::*;

#[test]
fn a_key_the_kind_does_not_take_is_refused_by_name() {
    let rule = |text: &str| serde_json::from_str::<GraphRule>(text).map_err(|e| e.to_string());
    assert_eq!(rule(r#"{"kind":"full"}"#), Ok(GraphRule::Full));
    assert_eq!(rule(r#"{"kind":"knn"}"#), Ok(GraphRule::Knn { k: 12 }));
    assert_eq!(
        rule(r#"{"kind":"cutoff","radius":5.0}"#),
        Ok(GraphRule::Cutoff { radius: 5.0 })
    );
    for (text, key) in [
        (
            r#"{"kind":"full","radius":5.0}"#,
            "graph.radius does nothing under kind = \"full\"",
        ),
        (
            r#"{"kind":"knn","radius":5.0}"#,
            "graph.radius does nothing under kind = \"knn\"",
        ),
        (
            r#"{"kind":"cutoff","radius":5.0,"k":3}"#,
            "graph.k does nothing",
        ),
        (r#"{"kind":"cutoff"}"#, "needs radius"),
        (r#"{"kind":"full","r":1}"#, "unknown field `r`"),
        (r#"{"kind":"ring"}"#, "unknown graph kind `ring`"),
    ] {
        let e = rule(text).expect_err(text);
        assert!(e.contains(key), "{text}: {e}");
    }
    // written back as it was read
    let back = serde_json::to_string(&GraphRule::Cutoff { radius: 5.0 }).unwrap();
    assert_eq!(back, r#"{"kind":"cutoff","radius":5.0}"#);
}

#[test]
fn rule_parameters_are_checked() {
    assert!(GraphRule::Cutoff { radius: -1.0 }.validate().is_err());
    assert!(GraphRule::Knn { k: 0 }.validate().is_err());
    assert!(GraphRule::Knn { k: 12 }.validate().is_ok());
}
