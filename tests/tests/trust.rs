//! What a hook's AWS clients trust (hook_sdk::aws): Amazon Trust Services' five roots for AWS's
//! endpoints, the system's store when the environment asks for it. Against an HTTPS endpoint on
//! loopback whose certificate a private CA signed (tests/fixtures/tls), with the real
//! `hook-runner` and its real Lambda client.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use integration_tests::{release_bin, workspace_root};

/// The TLS server (tests/fixtures/tls/server.py), its port, and its lines as they come.
struct Server {
    child: Child,
    port: u16,
    lines: mpsc::Receiver<String>,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new("python3")
            .arg(workspace_root().join("tests/fixtures/tls/server.py"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the TLS server");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let port = first.trim().parse().expect("the server prints its port");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server { child, port, lines }
    }

    /// The next line the server printed (it prints one per connection it served).
    fn next(&self) -> String {
        self.lines.recv().expect("the server printed a line")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `hook-runner run` of a one-invoke spec against the server, with `env` added.
fn run(server: &Server, env: &[(&str, &str)]) -> (i32, String) {
    let dir = integration_tests::target_dir().join("test-tmp").join("trust");
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("spec.yaml");
    std::fs::write(
        &spec,
        "version: 1\nchecks:\n  - name: answers\n    invoke: { payload: {} }\n",
    )
    .unwrap();
    let out = Command::new(release_bin("hook-runner"))
        .args([
            "run",
            spec.to_str().unwrap(),
            "--function",
            "hello-fn",
            "--qualifier",
            "2",
        ])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env_remove("HOOK_TLS_ROOTS")
        .envs([
            ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_MAX_ATTEMPTS", "1"),
        ])
        .env("AWS_ENDPOINT_URL", format!("https://localhost:{}", server.port))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// Under Amazon's roots only, an endpoint a private CA vouches for is refused before a byte of
/// the request is sent; when `SSL_CERT_FILE` names that CA, the same endpoint is trusted (the
/// system's store, which that variable replaces, is chosen for every host).
#[test]
fn a_private_ca_is_refused_under_amazons_roots_and_trusted_when_the_environment_names_it() {
    let server = Server::start();

    let (code, text) = run(&server, &[("HOOK_TLS_ROOTS", "amazon")]);
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("UnknownIssuer"),
        "the refusal names the untrusted issuer: {text}"
    );
    let line = server.next();
    assert!(line.starts_with("handshake failed"), "no request got through: {line}");

    let ca = workspace_root().join("tests/fixtures/tls/ca.pem");
    let (code, text) = run(&server, &[("SSL_CERT_FILE", ca.to_str().unwrap())]);
    assert_eq!(code, 0, "{text}");
    let line = server.next();
    assert!(
        line.starts_with("request POST /2015-03-31/functions/hello-fn/invocations"),
        "the invoke reached the endpoint over TLS: {line}"
    );
}

/// The built-in bundle is Amazon Trust Services' five roots, by the SHA-256 fingerprints
/// https://www.amazontrust.com/repository/ publishes (Python's ssl and hashlib compute them).
#[test]
fn the_built_in_roots_are_amazon_trust_services_by_fingerprint() {
    let script = r#"
import hashlib, re, ssl, sys
pem = open(sys.argv[1]).read()
for block in re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S):
    print(hashlib.sha256(ssl.PEM_cert_to_DER_cert(block)).hexdigest())
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(workspace_root().join("hook-sdk/src/amazon-trust-roots.pem"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let found: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        found,
        [
            "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e", // Amazon Root CA 1
            "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4", // Amazon Root CA 2
            "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4", // Amazon Root CA 3
            "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092", // Amazon Root CA 4
            "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5", // Starfield Services Root CA G2
        ]
    );
}
