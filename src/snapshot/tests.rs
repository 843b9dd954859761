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
