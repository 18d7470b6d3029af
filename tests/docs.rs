//! The repository's own documentation keeps up with the code: `docs/CONFIG.md` lists every
//! key the parsers accept. Each table's keys are read from the parser itself (an unknown
//! key's error says which keys it expected), so a key added to a parser and not to the page
//! fails here.

use hypersearch_search::StudyConfig;

use crate::harness::repo;

/// The keys an "unknown field `zz_unknown`, expected one of `a`, `b`" error lists.
fn expected_keys(error: &str) -> Vec<String> {
    let Some((_, list)) = error.split_once("expected") else {
        panic!("not an unknown-key error: {error}");
    };
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn study_error(text: &str) -> String {
    match StudyConfig::from_toml_str(text, "probe.toml") {
        Ok(_) => panic!("the unknown key was accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn training_error(text: &str) -> String {
    match nn_core::TrainConfig::from_toml(text, "probe.toml") {
        Ok(_) => panic!("the unknown key was accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// The text of the section headed `## HEADING` (up to the next `## ` heading).
fn section<'a>(page: &'a str, heading: &str) -> &'a str {
    let start = page
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("docs/CONFIG.md has no section `## {heading}`"));
    let body = &page[start + 1..];
    let end = body[3..].find("\n## ").map_or(body.len(), |i| i + 3);
    &body[..end]
}

#[test]
fn the_configuration_page_lists_every_key_the_parsers_accept() {
    let page = std::fs::read_to_string(repo("docs/CONFIG.md")).expect("docs/CONFIG.md");
    let search = "[search]\ntrials = 1\n";
    let space = "[search.space]\n\"training.l2\" = { float = [0, 0.1] }\n";
    let probes: Vec<(&str, String)> = vec![
        (
            "`[study]`",
            study_error(&format!("[study]\nzz_unknown = 1\n{search}{space}")),
        ),
        (
            "`[objective]`",
            study_error(&format!("[objective]\nzz_unknown = 1\n{search}{space}")),
        ),
        (
            "`[search]`",
            study_error(&format!("{search}zz_unknown = 1\n{space}")),
        ),
        (
            "`[search.space]`",
            study_error(&format!(
                "{search}[search.space]\nx = {{ zz_unknown = 1 }}\n"
            )),
        ),
        (
            "`[search.architecture]`",
            study_error(&format!("{search}[search.architecture]\nzz_unknown = 1\n")),
        ),
        (
            "`[search.tpe]`",
            study_error(&format!("{search}[search.tpe]\nzz_unknown = 1\n{space}")),
        ),
        (
            "`[search.evolution]`",
            study_error(&format!(
                "{search}[search.evolution]\nzz_unknown = 1\n{space}"
            )),
        ),
        (
            "`[early_stopping]`",
            study_error(&format!(
                "{search}{space}[early_stopping]\nzz_unknown = 1\n"
            )),
        ),
        (
            "`[data]`",
            training_error("[data]\nsource = \"digits\"\nzz_unknown = 1\n"),
        ),
        (
            "`[network]`",
            training_error("[data]\nsource = \"digits\"\n[network]\nzz_unknown = 1\n"),
        ),
        (
            "`[training]`",
            training_error("[data]\nsource = \"digits\"\n[training]\nzz_unknown = 1\n"),
        ),
        (
            "`[data]`",
            training_error("[data]\nsource = \"digits\"\naugment = { zz_unknown = 1 }\n"),
        ),
    ];
    let mut missing = Vec::new();
    for (heading, error) in &probes {
        let keys = expected_keys(error);
        assert!(keys.len() >= 2, "too few keys read from: {error}");
        let text = section(&page, heading);
        missing.extend(
            keys.iter()
                .filter(|key| !text.contains(&format!("`{key}`")))
                .map(|key| format!("{heading} {key}")),
        );
    }
    // The top-level tables of both files each have a section.
    let tables = [
        study_error(&format!("zz_unknown = 1\n{search}{space}")),
        training_error("zz_unknown = 1\n[data]\nsource = \"digits\"\n"),
    ];
    for table in tables.iter().flat_map(|error| expected_keys(error)) {
        let heading = format!("`[{table}]`");
        if !page.contains(&format!("\n## {heading}\n")) {
            missing.push(format!("the section {heading}"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/CONFIG.md does not list: {}",
        missing.join(", ")
    );
}
