//! deploy/: every file an operator copies is parsed here, and what it claims is checked against
//! the code: the commands it runs exist in the built binary, the settings it sets are documented,
//! the files it mounts exist, and its parts name each other consistently. Where the real tool is
//! installed and can work offline (`docker compose config`, `systemd-analyze verify`) it checks the
//! file too; where it is not, the test says so on stderr and the parse checks still run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize as _;
use serde_norway::Value;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(relative: &str) -> String {
    let path = deploy().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every YAML document of a file, with `<<` merge keys applied as Compose and Kubernetes do.
fn yaml_documents(relative: &str) -> Vec<Value> {
    let text = read(relative);
    serde_norway::Deserializer::from_str(&text)
        .map(|document| {
            let mut value = Value::deserialize(document).unwrap_or_else(|e| panic!("{relative} is not YAML: {e}"));
            value.apply_merge().unwrap_or_else(|e| panic!("{relative}: merge keys: {e}"));
            value
        })
        .collect()
}

fn text<'a>(value: &'a Value, what: &str) -> &'a str {
    value.as_str().unwrap_or_else(|| panic!("{what} is not a string: {value:?}"))
}

fn strings(value: &Value) -> Vec<String> {
    value.as_sequence().map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

/// The built binary accepts `args` as a command (`--help` of it exits 0).
fn assert_command_exists(args: &[String], source: &str) {
    let output = Command::new(scimledger_e2e::server::binary()).args(args).arg("--help").output().expect("running scimledger");
    assert!(output.status.success(), "{source} runs `scimledger {}`, which the binary does not know", args.join(" "));
}

/// The settings named in deploy/ that docs/operations.md does not document.
fn undocumented(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let operations =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/operations.md")).expect("docs/operations.md");
    names.into_iter().filter(|name| !operations.contains(&format!("`{name}")) && !operations.contains(&format!("{name}="))).collect()
}

fn settings_in(map: &Value) -> BTreeSet<String> {
    map.as_mapping()
        .map(|m| {
            m.keys()
                .filter_map(Value::as_str)
                .filter(|k| k.starts_with("SCIMLEDGER_") || k.starts_with("OTEL_"))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `tool check…` where the tool is installed and usable here (`tool probe…` succeeds) and
/// requires it to accept the file; says on stderr when it is not, and the parse checks stand.
fn check_with(tool: &str, probe: &[&str], check: &[&str], what: &str) {
    let unusable = match Command::new(tool).args(probe).output() {
        Err(e) => Some(e.to_string()),
        Ok(output) if !output.status.success() => {
            Some(String::from_utf8_lossy(&output.stderr).lines().find(|l| !l.trim().is_empty()).unwrap_or("failed").to_owned())
        }
        Ok(_) => None,
    };
    if let Some(reason) = unusable {
        eprintln!("{what}: `{tool} {}` is not usable here ({reason}); checked by parsing only", probe.join(" "));
        return;
    }
    let output = Command::new(tool).args(check).output().expect("running the checking tool");
    assert!(output.status.success(), "{tool} {} rejects {what}:\n{}", check.join(" "), String::from_utf8_lossy(&output.stderr));
    eprintln!("{what}: {tool} {} accepts it", check.join(" "));
}

#[test]
fn the_compose_file_runs_two_apis_behind_a_proxy_on_a_replicated_postgres_and_a_three_node_nats() {
    let compose = yaml_documents("compose/compose.yaml").remove(0);
    let services = compose["services"].as_mapping().expect("services");
    let service = |name: &str| services.get(name).unwrap_or_else(|| panic!("compose has no service {name}"));

    let apis: Vec<&str> = ["api-1", "api-2"].into_iter().filter(|name| services.contains_key(*name)).collect();
    assert_eq!(apis.len(), 2, "two API processes");
    let mut settings = BTreeSet::new();
    for name in &apis {
        let api = service(name);
        assert_command_exists(&strings(&api["command"]), name);
        let env = &api["environment"];
        settings.extend(settings_in(env));
        assert!(
            text(&env["SCIMLEDGER_DATABASE_URL"], "the database URL").contains("@postgres-primary:5432/"),
            "{name} writes to the primary"
        );
        let nats = text(&env["SCIMLEDGER_NATS_URL"], "the NATS URL");
        for node in ["nats-1", "nats-2", "nats-3"] {
            assert!(nats.contains(&format!("nats://{node}:4222")), "{name} knows {node}");
        }
        assert_eq!(text(&env["SCIMLEDGER_NATS_REPLICAS"], "replicas"), "3", "the stream has three replicas");
        assert!(text(&env["OTEL_EXPORTER_OTLP_ENDPOINT"], "the OTLP endpoint").contains("otel-collector:4318"));
        assert!(env["SCIMLEDGER_METRICS_LISTEN"].as_str().is_some(), "{name} serves /metrics");
    }

    // The proxy balances over both, checking /readyz.
    let proxy = service("proxy");
    let flags = strings(&proxy["command"]);
    let dynamic_flag = flags.iter().find_map(|f| f.strip_prefix("--providers.file.filename=")).expect("the proxy reads a routing file");
    let mounted =
        strings(&proxy["volumes"]).into_iter().find(|v| v.ends_with(&format!(":{dynamic_flag}:ro"))).expect("the routing file is mounted");
    let routing_file = mounted.split(':').next().unwrap().trim_start_matches("./");
    let routing = yaml_documents(&format!("compose/{routing_file}")).remove(0);
    let balancer = &routing["http"]["services"]["scimledger"]["loadBalancer"];
    let servers: Vec<&str> = balancer["servers"].as_sequence().expect("servers").iter().map(|s| text(&s["url"], "a server")).collect();
    assert_eq!(servers, ["http://api-1:8080", "http://api-2:8080"]);
    assert_eq!(text(&balancer["healthCheck"]["path"], "the health check"), "/readyz");

    // Three NATS nodes, one cluster, each routing to all three, JetStream on.
    for node in ["nats-1", "nats-2", "nats-3"] {
        let args = strings(&service(node)["command"]);
        let after = |flag: &str| args.iter().skip_while(|a| *a != flag).nth(1).cloned().unwrap_or_else(|| panic!("{node} has no {flag}"));
        assert!(args.contains(&"--jetstream".to_owned()), "{node} runs JetStream");
        assert_eq!(after("--server_name"), node);
        assert_eq!(after("--cluster_name"), "scimledger");
        assert_eq!(after("--routes"), "nats://nats-1:6222,nats://nats-2:6222,nats://nats-3:6222");
    }

    // A primary with WAL for a replica, and a replica cloned from it.
    let primary = strings(&service("postgres-primary")["command"]).join(" ");
    assert!(primary.contains("wal_level=replica") && primary.contains("max_wal_senders="), "the primary streams WAL");
    let replica = strings(&service("postgres-replica")["entrypoint"]).join(" ");
    assert!(
        replica.contains("pg_basebackup --host=postgres-primary") && replica.contains("--write-recovery-conf"),
        "the replica follows the primary"
    );

    // The collector takes OTLP over HTTP and has a pipeline for traces and one for metrics.
    let collector = yaml_documents("compose/otel-collector.yaml").remove(0);
    assert!(collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].as_str().is_some_and(|e| e.ends_with(":4318")));
    for signal in ["traces", "metrics"] {
        assert_eq!(strings(&collector["service"]["pipelines"][signal]["receivers"]), ["otlp"], "a {signal} pipeline from OTLP");
    }

    // Every file a service mounts is in deploy/compose.
    for (name, definition) in services {
        for volume in strings(&definition["volumes"]).iter().filter(|v| v.starts_with("./")) {
            let file = volume.split(':').next().unwrap().trim_start_matches("./");
            assert!(deploy().join("compose").join(file).exists(), "{} mounts {file}, which is missing", text(name, "a name"));
        }
    }
    let init = deploy().join("compose/postgres-primary-init.sh");
    let syntax = Command::new("bash").arg("-n").arg(&init).status().expect("bash");
    assert!(syntax.success(), "{} is valid bash", init.display());

    // The example .env sets every variable the file requires.
    let example: BTreeSet<String> = read("compose/example.env")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k.to_owned())
        .collect();
    let raw = read("compose/compose.yaml");
    for required in raw.split("${").skip(1).filter_map(|r| r.split_once(":?")).map(|(name, _)| name.to_owned()) {
        assert!(example.contains(&required), "example.env does not set {required}");
    }
    assert_eq!(undocumented(settings), Vec::<String>::new(), "settings in compose.yaml that docs/operations.md does not describe");

    let (file, env) =
        (deploy().join("compose/compose.yaml").display().to_string(), deploy().join("compose/example.env").display().to_string());
    check_with("docker", &["compose", "version"], &["compose", "-f", &file, "--env-file", &env, "config", "--quiet"], "compose.yaml");
}

#[test]
fn the_kubernetes_manifests_deploy_a_ready_checked_api_with_a_disruption_budget_and_external_services() {
    let documents = yaml_documents("kubernetes/scimledger.yaml");
    let of_kind = |kind: &'static str| documents.iter().filter(move |d| d["kind"].as_str() == Some(kind));
    for document in &documents {
        assert!(
            document["apiVersion"].as_str().is_some() && document["metadata"]["name"].as_str().is_some(),
            "every object has an apiVersion and a name"
        );
    }

    let deployment = of_kind("Deployment").next().expect("a Deployment");
    assert!(deployment["spec"]["replicas"].as_u64().is_some_and(|n| n >= 2), "more than one replica");
    let pod_labels = deployment["spec"]["template"]["metadata"]["labels"].as_mapping().expect("pod labels").clone();
    let selector = deployment["spec"]["selector"]["matchLabels"].as_mapping().expect("a selector");
    assert!(selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)), "the Deployment selects its own pods");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_command_exists(&strings(&container["args"]), "the Deployment");
    let ports: Vec<&str> = container["ports"].as_sequence().expect("ports").iter().map(|p| text(&p["name"], "a port name")).collect();
    let readiness = &container["readinessProbe"]["httpGet"];
    assert_eq!(text(&readiness["path"], "the readiness path"), "/readyz");
    assert!(ports.contains(&text(&readiness["port"], "the readiness port")), "the readiness probe names a container port");
    assert_eq!(text(&container["livenessProbe"]["httpGet"]["path"], "the liveness path"), "/healthz");

    let budget = of_kind("PodDisruptionBudget").next().expect("a PodDisruptionBudget");
    let budget_selector = budget["spec"]["selector"]["matchLabels"].as_mapping().expect("the budget's selector");
    assert!(budget_selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)), "the budget covers the API's pods");
    assert!(budget["spec"]["minAvailable"].as_u64().is_some_and(|n| n >= 1), "one pod stays up through a drain");

    // Settings come from a ConfigMap and a Secret defined here, and point at the external services.
    let mut settings = BTreeSet::new();
    let names = |kind: &'static str| of_kind(kind).map(|d| text(&d["metadata"]["name"], "a name").to_owned()).collect::<Vec<_>>();
    let (config_maps, secrets) = (names("ConfigMap"), names("Secret"));
    for source in container["envFrom"].as_sequence().expect("envFrom") {
        if let Some(name) = source["configMapRef"]["name"].as_str() {
            assert!(config_maps.iter().any(|n| n == name), "ConfigMap {name} is defined");
        }
        if let Some(name) = source["secretRef"]["name"].as_str() {
            assert!(secrets.iter().any(|n| n == name), "Secret {name} is defined");
        }
    }
    let config = of_kind("ConfigMap").next().expect("a ConfigMap");
    let secret = of_kind("Secret").next().expect("a Secret");
    settings.extend(settings_in(&config["data"]));
    settings.extend(settings_in(&secret["stringData"]));
    let external: Vec<&str> = of_kind("Service")
        .filter(|s| s["spec"]["type"].as_str() == Some("ExternalName"))
        .map(|s| text(&s["metadata"]["name"], "a name"))
        .collect();
    assert_eq!(external, ["postgres", "nats"], "PostgreSQL and NATS are external services");
    assert!(text(&secret["stringData"]["SCIMLEDGER_DATABASE_URL"], "the database URL").contains("@postgres:5432/"));
    assert!(text(&config["data"]["SCIMLEDGER_NATS_URL"], "the NATS URL").starts_with("nats://nats:4222"));
    assert_eq!(text(&config["data"]["SCIMLEDGER_NATS_REPLICAS"], "replicas"), "3");
    assert_eq!(undocumented(settings), Vec::<String>::new(), "settings in the manifests that docs/operations.md does not describe");

    // A client-side dry run still asks a cluster for its API: it runs where one answers.
    let file = deploy().join("kubernetes/scimledger.yaml").display().to_string();
    check_with("kubectl", &["cluster-info", "--request-timeout=5s"], &["apply", "--dry-run=client", "-f", &file], "the manifests");
}

#[test]
fn the_systemd_unit_runs_serve_with_its_environment_file() {
    let unit = ini::Ini::load_from_str(&read("systemd/scimledger.service")).expect("the unit parses as INI");
    let service = unit.section(Some("Service")).expect("a [Service] section");
    let exec: Vec<String> = service.get("ExecStart").expect("ExecStart").split_whitespace().map(str::to_owned).collect();
    assert_eq!(exec[0], "/usr/local/bin/scimledger");
    assert_command_exists(&exec[1..], "scimledger.service");
    assert_eq!(service.get("EnvironmentFile"), Some("/etc/scimledger/scimledger.env"), "the settings come from the environment file");
    assert_eq!(unit.section(Some("Install")).and_then(|s| s.get("WantedBy")), Some("multi-user.target"));

    let env = ini::Ini::load_from_str(&read("systemd/scimledger.env")).expect("the environment file parses");
    let names: Vec<String> = env.general_section().iter().map(|(k, _)| k.to_owned()).collect();
    assert!(names.contains(&"SCIMLEDGER_DATABASE_URL".to_owned()) && names.contains(&"SCIMLEDGER_NATS_URL".to_owned()));
    assert_eq!(undocumented(names), Vec::<String>::new(), "settings in scimledger.env that docs/operations.md does not describe");

    // systemd-analyze checks the unit as systemd would, with the built binary in place of the
    // installed one (verify insists that ExecStart exists).
    let dir = tempfile::tempdir().expect("a temporary directory");
    let unit_text =
        read("systemd/scimledger.service").replace("/usr/local/bin/scimledger", &scimledger_e2e::server::binary().display().to_string());
    let copy = dir.path().join("scimledger.service");
    std::fs::write(&copy, unit_text).expect("writing the unit's copy");
    check_with("systemd-analyze", &["--version"], &["verify", "--man=no", &copy.display().to_string()], "scimledger.service");
}

#[test]
fn the_image_runs_serve_from_the_release_build() {
    let dockerfile = read("Dockerfile");
    let instructions = ["FROM", "WORKDIR", "COPY", "RUN", "USER", "ENV", "EXPOSE", "ENTRYPOINT", "CMD", "ARG", "LABEL"];
    let mut logical = String::new();
    let mut lines = Vec::new();
    for line in dockerfile.lines().filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty()) {
        logical.push_str(line.trim_end_matches('\\'));
        if !line.ends_with('\\') {
            lines.push(std::mem::take(&mut logical));
        }
    }
    for line in &lines {
        let keyword = line.split_whitespace().next().unwrap_or_default();
        assert!(instructions.contains(&keyword), "unknown Dockerfile instruction in {line:?}");
    }
    let json_array = |keyword: &str| -> Vec<String> {
        let line = lines.iter().rev().find(|l| l.starts_with(keyword)).unwrap_or_else(|| panic!("no {keyword}"));
        serde_json::from_str(line[keyword.len()..].trim()).unwrap_or_else(|e| panic!("{keyword} is not an exec-form array: {e}"))
    };
    assert_eq!(json_array("ENTRYPOINT"), ["/usr/local/bin/scimledger"]);
    assert_command_exists(&json_array("CMD"), "the image");
    assert!(
        lines.iter().any(|l| l.contains("cargo build --release") && l.contains("-p scimledger")),
        "the image builds the release binary"
    );
    let env: Vec<String> = lines
        .iter()
        .filter(|l| l.starts_with("ENV"))
        .flat_map(|l| l.split_whitespace().skip(1))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, _)| k.to_owned())
        .collect();
    assert_eq!(undocumented(env), Vec::<String>::new(), "settings in the Dockerfile that docs/operations.md does not describe");
}
