use super::*;

#[test]
fn periods_are_half_open() {
    let d = |s: &str| s.parse::<Day>().unwrap_or_default();
    let p = Period {
        from: d("2025-01-01"),
        to: Some(d("2025-02-01")),
    };
    assert!(p.contains(d("2025-01-01")));
    assert!(p.contains(d("2025-01-31")));
    assert!(!p.contains(d("2025-02-01")));
    assert!(!p.contains(d("2024-12-31")));
}

fn day(s: &str) -> Day {
    s.parse().unwrap_or_default()
}

fn entry(
    id: i32,
    entity: &str,
    code: &str,
    action: &str,
    on: &str,
) -> crate::entities::change_log::Model {
    crate::entities::change_log::Model {
        id,
        recorded_at: Utc::now(),
        effective_on: day(on),
        actor: "test".into(),
        source: "seed".into(),
        entity: entity.into(),
        code: code.into(),
        action: action.into(),
        field: None,
        before: None,
        after: None,
    }
}

fn site(id: i32, code: &str, name: &str, deleted: bool) -> organisation::Model {
    organisation::Model {
        id,
        ods_code: code.into(),
        name: name.into(),
        website: None,
        telephone: None,
        email: None,
        address1: None,
        address2: None,
        address3: None,
        city: None,
        county: None,
        postcode: Some("NEW".into()),
        latitude: None,
        longitude: None,
        active: true,
        published_at: None,
        deleted_at: deleted.then(Utc::now),
        ods_deleted_on: None,
        ods_deletion_reason: None,
    }
}

#[test]
fn updates_are_undone_backwards_from_the_current_row() {
    let mut rename = entry(2, "organisation", "AAA01", "update", "2025-06-01");
    rename.field = Some("name".into());
    rename.before = Some("\"OLD NAME\"".into());
    rename.after = Some("\"NEW NAME\"".into());
    let mut postcode = entry(3, "organisation", "AAA01", "update", "2025-06-01");
    postcode.field = Some("postcode".into());
    postcode.before = Some("\"OLD\"".into());
    let rows = Rows {
        organisations: vec![site(1, "AAA01", "NEW NAME", false)],
        change_log: vec![
            entry(1, "organisation", "AAA01", "create", "2024-08-31"),
            rename,
            postcode,
        ],
        ..Rows::default()
    };
    let s = Snapshot::build(rows, Utc::now());
    assert_eq!(s.history_starts_on, day("2024-08-31"));
    let r = s.organisations.by_code("AAA01").expect("site");
    assert_eq!(
        r.versions.len(),
        2,
        "two changes on one day make one version"
    );
    let before = r.version_on(day("2025-05-31"));
    assert_eq!(
        (before.name.as_str(), before.postcode.as_deref()),
        ("OLD NAME", Some("OLD"))
    );
    assert_eq!(before.id, 1);
    let after = r.version_on(day("2025-06-01"));
    assert_eq!(
        (after.name.as_str(), after.postcode.as_deref()),
        ("NEW NAME", Some("NEW"))
    );
    let names: Vec<_> = attribute_history(r)
        .into_iter()
        .filter(|a| a.field == "name")
        .map(|a| (a.value, a.period))
        .collect();
    assert_eq!(
        names,
        vec![
            (
                serde_json::json!("OLD NAME"),
                Period {
                    from: day("2024-08-31"),
                    to: Some(day("2025-06-01"))
                }
            ),
            (
                serde_json::json!("NEW NAME"),
                Period {
                    from: day("2025-06-01"),
                    to: None
                }
            ),
        ]
    );
}

#[test]
fn existence_follows_create_delete_and_restore() {
    let rows = Rows {
        organisations: vec![site(1, "AAA01", "A", false), site(2, "BBB01", "B", true)],
        change_log: vec![
            entry(1, "organisation", "AAA01", "create", "2024-08-31"),
            entry(2, "organisation", "BBB01", "create", "2024-08-31"),
            entry(3, "organisation", "AAA01", "delete", "2025-01-01"),
            entry(4, "organisation", "AAA01", "restore", "2025-03-01"),
            entry(5, "organisation", "BBB01", "delete", "2025-02-01"),
        ],
        ..Rows::default()
    };
    let s = Snapshot::build(rows, Utc::now());
    let a = s.organisations.by_code("AAA01").expect("a");
    assert!(a.exists_on(day("2024-12-31")));
    assert!(!a.exists_on(day("2025-01-01")));
    assert!(!a.exists_on(day("2025-02-28")));
    assert!(a.exists_on(day("2025-03-01")));
    assert!(!a.exists_on(day("2024-08-30")), "not before it was created");
    let b = s.organisations.by_code("BBB01").expect("b");
    assert!(b.exists_on(day("2025-01-31")));
    assert!(!b.exists_on(day("2025-02-01")));
    let listed = |d: &str| s.organisations.list_on(day(d)).len();
    assert_eq!(
        (
            listed("2024-09-01"),
            listed("2025-01-15"),
            listed("2025-06-01")
        ),
        (2, 1, 1)
    );
}

#[test]
fn memberships_answer_by_day_and_ignore_empty_intervals() {
    let m = |child, parent, from: &str, to: Option<&str>| memberships::Membership {
        id: 0,
        child_id: child,
        parent_id: parent,
        valid_from: day(from),
        valid_to: to.map(day),
    };
    let rows = Rows {
        memberships: vec![(
            Edge::OrganisationTrust,
            vec![
                m(1, 10, "2024-08-31", Some("2025-04-01")),
                m(1, 11, "2025-04-01", None),
                m(2, 10, "2025-01-01", Some("2025-01-01")),
            ],
        )],
        ..Rows::default()
    };
    let s = Snapshot::build(rows, Utc::now());
    let e = s.edge(Edge::OrganisationTrust);
    assert_eq!(e.parent_on(1, day("2025-03-31")), Some(10));
    assert_eq!(e.parent_on(1, day("2025-04-01")), Some(11));
    assert_eq!(e.parent_on(2, day("2025-01-01")), None);
    assert_eq!(
        e.children_on(10, day("2025-01-01")).collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!(e.of_child(1).len(), 2);
}
