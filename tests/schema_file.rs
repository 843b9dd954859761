//! `schema.graphql` must be what `nhs-organisations schema` prints.
#[test]
fn committed_schema_is_current() {
    let generated = nhs_organisations::graphql::sdl();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed != generated {
        if std::env::var("UPDATE_SCHEMA").is_ok() {
            std::fs::write(path, &generated).expect("write schema.graphql");
            return;
        }
        panic!("schema.graphql is stale: run `cargo run -- schema > schema.graphql` (or UPDATE_SCHEMA=1 cargo test --test schema_file)");
    }
}

#[test]
fn every_type_and_field_is_documented() {
    let sdl = nhs_organisations::graphql::sdl();
    let mut undocumented = Vec::new();
    // Whether the previous item was a description (a `"""` block, possibly multi-line).
    let mut described = false;
    let mut in_description = false;
    let mut in_schema_block = false;
    for line in sdl.lines() {
        let t = line.trim();
        if in_description {
            if t.ends_with(r#"""""#) {
                in_description = false;
                described = true;
            }
            continue;
        }
        if t.starts_with('"') {
            // `"""text"""` on one line, or the opening of a block.
            let one_line = t.len() >= 6 && t.starts_with(r#"""""#) && t.ends_with(r#"""""#);
            let short = !t.starts_with(r#"""""#) && t.len() >= 2 && t.ends_with('"');
            if one_line || short {
                described = true;
            } else {
                in_description = true;
            }
            continue;
        }
        // The `schema { query: ... }` block lists roots, not fields.
        if t.starts_with("schema {") {
            in_schema_block = true;
        }
        if in_schema_block {
            if t.starts_with('}') {
                in_schema_block = false;
            }
            described = false;
            continue;
        }
        let is_def = t.starts_with("type ")
            || t.starts_with("interface ")
            || t.starts_with("input ")
            || t.starts_with("enum ")
            || t.starts_with("scalar ");
        // Field lines, and argument lines of multi-line argument lists (`): Type` closes one).
        let is_field =
            line.starts_with('\t') && !t.is_empty() && !t.starts_with('}') && !t.starts_with(')');
        if (is_def || is_field) && !described && !t.starts_with("directive") {
            undocumented.push(t.to_string());
        }
        if !t.is_empty() {
            described = false;
        }
    }
    assert!(
        undocumented.is_empty(),
        "undocumented schema items: {undocumented:#?}"
    );
}
