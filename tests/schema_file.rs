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
    let mut previous = "";
    // Inside a multi-line `"""` description: its lines are text, not schema items.
    let mut in_description = false;
    // The `schema { query: … }` block names the roots; it has nothing to document.
    let mut in_schema_block = false;
    for line in sdl.lines() {
        let t = line.trim();
        if t == "schema {" || in_schema_block {
            in_schema_block = t != "}";
            continue;
        }
        if in_description {
            in_description = !t.ends_with("\"\"\"");
            previous = t;
            continue;
        }
        if t == "\"\"\"" || (t.starts_with("\"\"\"") && !t[3..].ends_with("\"\"\"")) {
            in_description = true;
            previous = t;
            continue;
        }
        let is_def = t.starts_with("type ")
            || t.starts_with("interface ")
            || t.starts_with("input ")
            || t.starts_with("enum ")
            || t.starts_with("scalar ");
        // `)` closes a multi-line argument list, whose arguments are checked one by one.
        let is_field = line.starts_with('\t')
            && !t.starts_with('"')
            && !t.is_empty()
            && !t.starts_with('}')
            && !t.starts_with(')');
        if (is_def || is_field) && !previous.ends_with('"') && !t.starts_with("directive") {
            undocumented.push(t.to_string());
        }
        previous = t;
    }
    assert!(
        undocumented.is_empty(),
        "undocumented schema items: {undocumented:#?}"
    );
}
