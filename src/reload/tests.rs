use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use crate::agents::{Agents, CallContext};

fn config(text: &str) -> Config {
    Config::from_toml_and_env(text, Path::new("test.toml"), Vec::new()).expect("valid")
}

fn agents_toml(instructions: &str) -> String {
    format!(
        "[model]\nbackend = \"demo\"\n\n[[agents]]\nid = \"support\"\ninstructions = \"{instructions}\"\ndefault = true\n"
    )
}

fn context() -> CallContext<'static> {
    CallContext {
        caller: "+14155550123",
        called: "+14155550100",
        trunk: "twilio",
    }
}

fn reloader(running: &Config) -> (Reloader, Arc<Agents>) {
    let secrets = Secrets::default();
    let agents = Arc::new(crate::app::build_agents(running, &secrets).expect("agents"));
    (
        Reloader::new(running, &secrets, agents.clone(), None),
        agents,
    )
}

#[test]
fn a_reload_gives_the_next_call_the_new_instructions_and_the_call_in_progress_keeps_its_own() {
    let old = config(&agents_toml("Be brief."));
    let (reloader, agents) = reloader(&old);
    let in_progress = agents.route(&context()).expect("routed");
    let report = reloader
        .apply(&config(&agents_toml("Be thorough.")))
        .expect("reloaded");
    assert_eq!(report.agents, vec!["support".to_owned()]);
    let next = agents.route(&context()).expect("routed");
    let now = jiff::Timestamp::UNIX_EPOCH;
    assert_eq!(in_progress.instructions(&context(), now), "Be brief.");
    assert_eq!(next.instructions(&context(), now), "Be thorough.");
    let (old_hash, new_hash) = (
        in_progress.versions()["agent"].clone(),
        next.versions()["agent"].clone(),
    );
    assert_ne!(old_hash, new_hash);
    assert_eq!(
        in_progress.versions()["tools"],
        next.versions()["tools"],
        "the tools did not change"
    );
    // Both definitions stay available under their hashes.
    let old_def = agents.version(&old_hash).expect("the old version is kept");
    assert_eq!(old_def.definition["instructions"], "Be brief.");
    let new_def = agents.version(&new_hash).expect("the new version");
    assert_eq!(new_def.definition["instructions"], "Be thorough.");
}

#[test]
fn an_invalid_file_is_refused_and_the_running_agents_stay() {
    let old = config(&agents_toml("Be brief."));
    let (reloader, agents) = reloader(&old);
    let dir = std::env::temp_dir().join(format!("warmline-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("bad.toml");
    // A route to an agent that does not exist.
    std::fs::write(
        &path,
        agents_toml("Be thorough.") + "\n[[routes]]\nagent = \"nobody\"\nnumber = \"+1415*\"\n",
    )
    .expect("write");
    let error = reloader.reload_from(Some(&path)).expect_err("refused");
    assert!(matches!(error, ReloadError::Config(_)), "{error}");
    assert!(error.to_string().contains("nobody"), "{error}");
    let agent = agents.route(&context()).expect("still routed");
    assert_eq!(
        agent.instructions(&context(), jiff::Timestamp::UNIX_EPOCH),
        "Be brief."
    );
    let _ = std::fs::remove_dir_all(&dir);
}

struct Refusing;

impl ReloadPart for Refusing {
    fn name(&self) -> &'static str {
        "reps"
    }
    fn prepare(&self, _config: &Config) -> Result<Commit, String> {
        Err("rep \"ann\" has no extension".into())
    }
}

struct Counting(Arc<AtomicBool>);

impl ReloadPart for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }
    fn prepare(&self, _config: &Config) -> Result<Commit, String> {
        let flag = self.0.clone();
        Ok(Box::new(move || flag.store(true, Ordering::SeqCst)))
    }
}

#[test]
fn a_part_that_refuses_the_new_config_refuses_the_whole_reload() {
    let old = config(&agents_toml("Be brief."));
    let (reloader, agents) = reloader(&old);
    let committed = Arc::new(AtomicBool::new(false));
    reloader.add_part(Arc::new(Counting(committed.clone())));
    reloader.add_part(Arc::new(Refusing));
    let error = reloader
        .apply(&config(&agents_toml("Be thorough.")))
        .expect_err("refused");
    assert!(error.to_string().contains("reps: rep \"ann\""), "{error}");
    assert!(!committed.load(Ordering::SeqCst), "nothing is applied");
    let agent = agents.route(&context()).expect("routed");
    assert_eq!(
        agent.instructions(&context(), jiff::Timestamp::UNIX_EPOCH),
        "Be brief."
    );
}

#[test]
fn a_reload_names_the_sections_that_need_a_restart() {
    let old = config(&agents_toml("Be brief."));
    let (reloader, _agents) = reloader(&old);
    let mut text = agents_toml("Be brief.");
    text.push_str("\n[server]\nhttp_listen = \"127.0.0.1:9999\"\n");
    let report = reloader.apply(&config(&text)).expect("reloaded");
    assert_eq!(report.need_restart, vec!["server"]);
}

#[test]
fn a_tool_change_makes_a_new_tools_version_and_keeps_the_agent_version() {
    let tool = |description: &str| {
        format!(
            "[[tools]]\nname = \"lookup\"\ndescription = \"{description}\"\nkind = \"webhook\"\nurl = \"https://t.example.com/x\"\n\n"
        )
    };
    let text = |description: &str| {
        tool(description)
            + &agents_toml("Be brief.")
                .replace("default = true", "default = true\ntools = [\"lookup\"]")
    };
    let env = || vec![("WARMLINE_TOOLS_SECRET".to_owned(), "s".to_owned())];
    let a = Config::from_toml_and_env(&text("Find it."), Path::new("t.toml"), env()).expect("a");
    let b =
        Config::from_toml_and_env(&text("Find it fast."), Path::new("t.toml"), env()).expect("b");
    let secrets = Secrets::default();
    let first = crate::app::build_agents(&a, &secrets).expect("agents");
    let second = crate::app::build_agents(&b, &secrets).expect("agents");
    let (one, two) = (
        first.route(&context()).expect("routed"),
        second.route(&context()).expect("routed"),
    );
    assert_eq!(one.versions()["agent"], two.versions()["agent"]);
    assert_ne!(one.versions()["tools"], two.versions()["tools"]);
}
