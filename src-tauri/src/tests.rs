//! The one list of commands (`command_list.rs`) against the places that must agree with it and
//! are not generated from it: the capability file, the front end's calls and the README's table.

use std::collections::BTreeSet;

use super::COMMANDS;

fn listed() -> BTreeSet<String> {
    COMMANDS.iter().map(|name| name.to_string()).collect()
}

/// The `ui/README.md` table "The Backend interface": the Rust command of each JS method, and the
/// commands marked **Not in Rust yet** (the front end may call them; the app answers with an
/// error until they exist).
fn readme_commands() -> (BTreeSet<String>, BTreeSet<String>) {
    let readme = include_str!("../../ui/README.md");
    let section = readme
        .split("\n## ")
        .find(|section| section.starts_with("The Backend interface"))
        .unwrap();
    let (mut all, mut not_yet) = (BTreeSet::new(), BTreeSet::new());
    for row in section.lines().filter(|line| line.starts_with("| ")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let Some(command) = cells.get(1) else {
            continue;
        };
        // `ui_locale`, or `camera_start` (a `Channel<CameraEvent>`); events are not commands.
        let Some(name) = command.strip_prefix('`').and_then(|c| c.split('`').next()) else {
            continue;
        };
        if !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            continue;
        }
        if row.contains("**Not in Rust yet**") {
            not_yet.insert(name.to_string());
        } else {
            all.insert(name.to_string());
        }
    }
    (all, not_yet)
}

/// A command the window may not call fails in the real app with a generic error only: the
/// capability grants every listed command, and nothing else of the app's.
#[test]
fn every_listed_command_is_granted_to_the_window() {
    let capability: serde_json::Value =
        serde_json::from_str(include_str!("../capabilities/default.json")).unwrap();
    let granted: BTreeSet<String> = capability["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str()?.strip_prefix("allow-"))
        .map(|name| name.replace('-', "_"))
        .collect();
    assert_eq!(granted, listed(), "capabilities/default.json");
}

/// The front end calls exactly the listed commands (and those the README says are not in Rust
/// yet), so a command added on one side only fails here.
#[test]
fn the_front_end_calls_exactly_the_listed_commands() {
    let tauri_js = include_str!("../../ui/www/lib/backend/tauri.js");
    let called: BTreeSet<String> = tauri_js
        .split("call(\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect();
    let (_, not_yet) = readme_commands();
    let expected: BTreeSet<String> = listed().union(&not_yet).cloned().collect();
    assert_eq!(called, expected, "ui/www/lib/backend/tauri.js");
}

#[test]
fn the_readme_documents_exactly_the_listed_commands() {
    let (documented, not_yet) = readme_commands();
    assert_eq!(documented, listed(), "ui/README.md, The Backend interface");
    assert!(
        not_yet.is_disjoint(&listed()),
        "a command in Rust is still marked Not in Rust yet: {not_yet:?}"
    );
}
