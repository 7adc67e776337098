//! A real kube-apiserver with tagpilot's CRDs installed, driven the way a user
//! drives a cluster: `kubectl` with the admin kubeconfig (or another one), and
//! `tagpilot controller` processes started against it and killed by PID.

use std::cell::RefCell;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use super::kube_api::{KubeApiServer, kubectl_command};
use super::tagpilot::wait_for;

/// A running API server plus a scratch directory for kubeconfigs and logs.
pub struct Cluster {
    /// The API server.
    pub server: KubeApiServer,
    dir: TempDir,
}

impl Cluster {
    /// Starts an API server and installs `tagpilot crds` (waiting until they are Established).
    pub fn start() -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let cluster = Self {
            server: KubeApiServer::start(),
            dir: TempDir::new().unwrap(),
        };
        let crds = Command::new(env!("CARGO_BIN_EXE_tagpilot"))
            .arg("crds")
            .output()
            .unwrap();
        assert!(crds.status.success(), "tagpilot crds failed: {crds:?}");
        cluster.apply(&String::from_utf8(crds.stdout).unwrap());
        cluster.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/imagerepositories.tagpilot.dev",
            "crd/imagepolicies.tagpilot.dev",
            "crd/gitrepositories.tagpilot.dev",
            "crd/imageupdateautomations.tagpilot.dev",
            "crd/syncs.tagpilot.dev",
        ]);
        cluster
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> &Path {
        &self.server.kubeconfig
    }

    /// A scratch directory that lives as long as the cluster.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `kubectl ARGS` as admin; panics with stderr on failure.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let output = self.kubectl_output(args, None);
        assert!(
            output.0,
            "kubectl {args:?} failed:\n{}\n{}",
            output.1, output.2
        );
        output.1
    }

    /// `kubectl get events -n NAMESPACE ARGS` once it contains every one of
    /// `needles` (the controller posts events in the background, after the
    /// status that a test usually waits for).
    pub fn wait_for_events(&self, namespace: &str, args: &[&str], needles: &[&str]) -> String {
        let mut command = vec!["get", "events", "-n", namespace];
        command.extend_from_slice(args);
        let last = RefCell::new(String::new());
        wait_for(
            &format!("events in {namespace} with {needles:?}"),
            || {
                let events = self.kubectl(&command);
                let found = needles.iter().all(|needle| events.contains(needle));
                *last.borrow_mut() = events.clone();
                found.then_some(events)
            },
            || last.borrow().clone(),
        )
    }

    /// `kubectl ARGS` (with `stdin`): (success, stdout, stderr).
    pub fn kubectl_output(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        self.kubectl_as(self.kubeconfig(), args, stdin)
    }

    /// `kubectl ARGS` with another kubeconfig: (success, stdout, stderr).
    pub fn kubectl_as(
        &self,
        kubeconfig: &Path,
        args: &[&str],
        stdin: Option<&str>,
    ) -> (bool, String, String) {
        let mut child = kubectl_command(kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        let output = child.wait_with_output().unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// `kubectl apply -f -` of `yaml`; panics on failure.
    pub fn apply(&self, yaml: &str) -> String {
        let (ok, stdout, stderr) = self.kubectl_output(&["apply", "-f", "-"], Some(yaml));
        assert!(ok, "kubectl apply failed:\n{stderr}\n{yaml}");
        stdout
    }

    /// Asks for a reconcile of `kind` `namespace`/`name` now, as `flux
    /// reconcile` would: `reconcile.tagpilot.dev/requestedAt` set to `value`.
    pub fn request_reconcile(&self, kind: &str, namespace: &str, name: &str, value: &str) {
        self.kubectl(&[
            "annotate",
            "--overwrite",
            kind,
            name,
            "-n",
            namespace,
            &format!("reconcile.tagpilot.dev/requestedAt={value}"),
        ]);
    }

    /// `kubectl create namespace NAME`.
    pub fn namespace(&self, name: &str) {
        self.kubectl(&["create", "namespace", name]);
    }

    /// The object as JSON, or `None` when it does not exist.
    pub fn get_json(&self, kind: &str, namespace: &str, name: &str) -> Option<serde_json::Value> {
        let (ok, stdout, _) =
            self.kubectl_output(&["get", kind, "-n", namespace, name, "-o", "json"], None);
        ok.then(|| serde_json::from_str(&stdout).unwrap())
    }

    /// The condition `type` of an object's status, when present.
    pub fn condition(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        condition: &str,
    ) -> Option<serde_json::Value> {
        let object = self.get_json(kind, namespace, name)?;
        object["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == condition)
            .cloned()
    }

    /// Waits until `check` accepts the object's JSON; returns it.
    pub fn wait_for_object(
        &self,
        what: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        check: impl Fn(&serde_json::Value) -> bool,
        context: impl Fn() -> String,
    ) -> serde_json::Value {
        wait_for(
            what,
            || {
                self.get_json(kind, namespace, name)
                    .filter(|object| check(object))
            },
            || {
                let (ok, stdout, stderr) =
                    self.kubectl_output(&["get", kind, "-n", namespace, name, "-o", "json"], None);
                let status = if ok {
                    let object: serde_json::Value = serde_json::from_str(&stdout).unwrap();
                    serde_json::to_string_pretty(&object["status"]).unwrap()
                } else {
                    format!("kubectl get failed: {stderr}")
                };
                format!("{kind} {namespace}/{name}: {status}\n{}", context())
            },
        )
    }

    /// Starts `tagpilot controller` with `kubeconfig` and `extra` arguments, logging at debug.
    pub fn spawn_controller(&self, name: &str, kubeconfig: &Path, extra: &[&str]) -> Controller {
        let log = self.dir.path().join(format!("{name}.log"));
        let state = self.dir.path().join(format!("{name}-state"));
        let home = self.dir.path().join(format!("{name}-home"));
        std::fs::create_dir_all(&home).unwrap();
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_tagpilot"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("KUBECONFIG", kubeconfig)
            .env("NO_COLOR", "1")
            .args(["--log-level", "info,tagpilot=debug", "controller"])
            .arg("--state-dir")
            .arg(&state)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        Controller {
            child: RefCell::new(Some(command.spawn().unwrap())),
            log,
        }
    }
}

/// A running `tagpilot controller`; killed (by PID) when dropped.
pub struct Controller {
    child: RefCell<Option<Child>>,
    log: PathBuf,
}

impl Controller {
    /// What it has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its PID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.borrow().as_ref().map(Child::id)
    }

    /// SIGKILL (by PID) and reap: no chance to release anything.
    pub fn kill(&self) {
        if let Some(mut child) = self.child.borrow_mut().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (by PID) and wait for the exit code (`None`: killed by a signal).
    pub fn terminate(&self) -> Option<i32> {
        let mut child = self.child.borrow_mut().take()?;
        super::process::run(Command::new("kill").args(["-TERM", &child.id().to_string()]));
        let status = wait_for(
            "the controller to exit after SIGTERM",
            || child.try_wait().ok().flatten(),
            || self.log_text(),
        );
        status.code()
    }

    /// Waits until the process exits by itself; its exit code.
    pub fn wait_for_exit(&self) -> Option<i32> {
        let mut child = self.child.borrow_mut().take()?;
        let status = wait_for(
            "the controller to exit",
            || child.try_wait().ok().flatten(),
            || self.log_text(),
        );
        status.code()
    }

    /// Fails the test with the log if the process has exited.
    pub fn assert_running(&self) {
        if let Some(child) = self.child.borrow_mut().as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            panic!(
                "tagpilot controller exited ({status}); its log:\n{}",
                self.log_text()
            );
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
    }
}
