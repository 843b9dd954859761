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
    let (mut in_description, mut in_schema_block) = (false, false);
    for line in sdl.lines() {
        let t = line.trim();
        // Lines inside a multi-line description, and the root operation types of the `schema`
        // block (which cannot carry descriptions), are not definitions.
        if t == "\"\"\"" {
            in_description = !in_description;
            previous = t;
            continue;
        }
        if in_description {
            continue;
        }
        if t == "schema {" {
            in_schema_block = true;
        }
        if in_schema_block {
            in_schema_block = t != "}";
            previous = t;
            continue;
        }
        let is_def = t.starts_with("type ")
            || t.starts_with("interface ")
            || t.starts_with("input ")
            || t.starts_with("enum ")
            || t.starts_with("scalar ");
        let is_field =
            line.starts_with('\t') && !t.starts_with('"') && !t.is_empty() && !t.starts_with('}');
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
