//! TLS between coordinator and workers (rustls), with certificates rcgen makes in the test:
//! plaintext to the TLS port and an untrusted certificate are refused with one clear message
//! and nothing leased; a worker trusting the right CA completes the study; with mutual TLS, a
//! worker without a certificate from the client CA is refused and one with it runs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::harness::{
    Proc, Scratch, assert_integrity, assert_ok, assert_one_clear_error, branin_study, sql_count,
};

/// A certificate authority made for one test.
pub(crate) fn authority(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("a CA key")).expect("a CA")
}

/// Writes `NAME.pem` and `NAME-key.pem`: a certificate for `names` signed by `issuer`, for a
/// server or a client.
pub(crate) fn leaf(
    dir: &Scratch,
    name: &str,
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    purpose: ExtendedKeyUsagePurpose,
) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().expect("a key");
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("params");
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.extended_key_usages = vec![purpose];
    let cert = params
        .signed_by(&key, issuer)
        .expect("a signed certificate");
    (
        dir.write(&format!("{name}.pem"), &cert.pem()),
        dir.write(&format!("{name}-key.pem"), &key.serialize_pem()),
    )
}

fn ca_file(dir: &Scratch, name: &str, ca: &CertifiedIssuer<'static, KeyPair>) -> PathBuf {
    dir.write(&format!("{name}.pem"), &ca.pem())
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// `hypersearch worker` against `address` with `extra` arguments, to completion.
fn worker(dir: &Scratch, address: &str, extra: &[&str]) -> (std::process::Output, Duration) {
    let mut args = vec!["worker", "--coordinator", address, "--slots", "2"];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let output = dir.hs(&args, Duration::from_secs(60));
    (output, started.elapsed())
}

/// Waits for `serve` to end the study and checks the database.
fn assert_study_done(serve: &mut Proc, db: &Path, workers: i64) {
    let status = serve.wait(Duration::from_secs(30));
    assert!(status.success(), "serve failed{}", serve.log_text());
    assert_eq!(
        sql_count(db, "SELECT count(*) FROM trials WHERE state = 'complete'"),
        6
    );
    assert_eq!(sql_count(db, "SELECT count(*) FROM workers"), workers);
    assert_integrity(db);
}

#[test]
fn plaintext_and_untrusted_certificates_are_refused_and_the_right_ca_completes_trials() {
    let dir = Scratch::new();
    let ca = authority("hypersearch test CA");
    let stranger = authority("someone else's CA");
    let (cert, key) = leaf(
        &dir,
        "server",
        &ca,
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let ca_pem = ca_file(&dir, "ca", &ca);
    let stranger_pem = ca_file(&dir, "stranger", &stranger);
    let config = dir.write("tls.toml", &branin_study("tls", 6, 2, 5));
    let token = dir.write("token", "tls-secret");
    let db = dir.path("trials.db");

    // Beyond loopback, TLS alone does not authenticate workers: a token is still needed.
    let refused = dir.hs(
        &[
            "serve",
            s(&config),
            "--listen",
            "0.0.0.0:0",
            "--tls-cert",
            s(&cert),
            "--tls-key",
            s(&key),
        ],
        Duration::from_secs(30),
    );
    assert_one_clear_error(
        &refused,
        &["refusing to listen on 0.0.0.0:0 without a token"],
    );

    let tls_args = [
        "--token-file",
        s(&token),
        "--tls-cert",
        s(&cert),
        "--tls-key",
        s(&key),
    ];
    let (mut serve, plain_address) = dir.serve(&config, &db, &tls_args);
    assert!(
        serve.log_text().contains("TLS; token required"),
        "{}",
        serve.log_text()
    );
    let address = plain_address.replace("http://", "https://");

    let (output, _) = worker(
        &dir,
        &plain_address,
        &["--token-file", s(&token), "--patience-seconds", "2"],
    );
    // The TLS port answers a plaintext request with bytes that are not HTTP/2, or closes.
    assert_one_clear_error(
        &output,
        &[
            &plain_address,
            "if the coordinator serves TLS, use an https:// address",
        ],
    );

    let (output, took) = worker(
        &dir,
        &address,
        &[
            "--token-file",
            s(&token),
            "--tls-ca",
            s(&stranger_pem),
            "--patience-seconds",
            "3600",
        ],
    );
    assert_one_clear_error(
        &output,
        &[
            "TLS handshake with the coordinator",
            "UnknownIssuer",
            "--tls-ca",
        ],
    );
    // With an hour's patience, a worker retrying the handshake would still be at it.
    assert!(
        took < Duration::from_secs(50),
        "{took:?}: a bad certificate was retried"
    );
    assert_eq!(sql_count(&db, "SELECT count(*) FROM workers"), 0);
    assert_eq!(sql_count(&db, "SELECT count(*) FROM attempts"), 0);

    let (output, _) = worker(
        &dir,
        &address,
        &["--token-file", s(&token), "--tls-ca", s(&ca_pem)],
    );
    assert_ok(&output);
    assert_study_done(&mut serve, &db, 1);
}

#[test]
fn mutual_tls_refuses_workers_without_a_certificate_from_the_client_ca() {
    let dir = Scratch::new();
    let ca = authority("server CA");
    let client_ca = authority("worker CA");
    let stranger = authority("someone else's CA");
    let (cert, key) = leaf(
        &dir,
        "server",
        &ca,
        &["127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (worker_cert, worker_key) = leaf(
        &dir,
        "worker",
        &client_ca,
        &["worker-1"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let (forged_cert, forged_key) = leaf(
        &dir,
        "forged",
        &stranger,
        &["worker-1"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let ca_pem = ca_file(&dir, "ca", &ca);
    let client_ca_pem = ca_file(&dir, "client-ca", &client_ca);
    let config = dir.write("tls.toml", &branin_study("tls", 6, 2, 5));
    let db = dir.path("trials.db");

    let (mut serve, plain_address) = dir.serve(
        &config,
        &db,
        &[
            "--tls-cert",
            s(&cert),
            "--tls-key",
            s(&key),
            "--tls-client-ca",
            s(&client_ca_pem),
        ],
    );
    assert!(
        serve.log_text().contains("worker certificates required"),
        "{}",
        serve.log_text()
    );
    let address = plain_address.replace("http://", "https://");

    // With TLS 1.3 the coordinator refuses after the client's half of the handshake: the
    // worker hears its alert (or, if the connection closes first, retries for its patience)
    // and names the cause.
    let (output, _) = worker(
        &dir,
        &address,
        &["--tls-ca", s(&ca_pem), "--patience-seconds", "2"],
    );
    assert_one_clear_error(
        &output,
        &["requires", "certificate", "--tls-cert and --tls-key"],
    );
    let (output, _) = worker(
        &dir,
        &address,
        &[
            "--tls-ca",
            s(&ca_pem),
            "--tls-cert",
            s(&forged_cert),
            "--tls-key",
            s(&forged_key),
            "--patience-seconds",
            "2",
        ],
    );
    assert_one_clear_error(&output, &[&address, "certificate"]);
    assert_eq!(sql_count(&db, "SELECT count(*) FROM workers"), 0);

    let (output, _) = worker(
        &dir,
        &address,
        &[
            "--tls-ca",
            s(&ca_pem),
            "--tls-cert",
            s(&worker_cert),
            "--tls-key",
            s(&worker_key),
        ],
    );
    assert_ok(&output);
    assert_study_done(&mut serve, &db, 1);
}
