//! TLS to PostgreSQL, against a throwaway cluster with a certificate made for the test and a
//! pg_hba that refuses TCP without TLS: `require`, `verify-ca` and `verify-full` connect (and
//! migrate); a certificate from another authority, or for another host under `verify-full`,
//! is refused; so is a connection without TLS.

use std::time::Duration;

use aiblox_kb::{Error, KbConfig, KbPool};
use aiblox_localpg::{LocalCluster, ServerBinaries, ServerOptions};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A certificate authority, and a server certificate it signed for `localhost`:
/// (CA certificate, server certificate, server key), PEM.
fn authority_and_server() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "aiblox test CA");
    let ca_certificate = ca.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let server_certificate = server
        .signed_by(&server_key, &Issuer::from_params(&ca, &ca_key))
        .unwrap();
    (
        ca_certificate.pem(),
        server_certificate.pem(),
        server_key.serialize_pem(),
    )
}

async fn connect(url: &str) -> Result<(), Error> {
    let config = KbConfig::new(url)?;
    let pool = KbPool::builder(&config)
        .connect_timeout(Duration::from_secs(5))
        .wait_timeout(Duration::from_secs(5))
        .build()?;
    let result = pool.ping().await;
    pool.close();
    result
}

#[tokio::test]
async fn tls_modes_connect_and_verify_the_server() {
    let (ca, certificate, key) = authority_and_server();
    let (other_ca, _, _) = authority_and_server();
    let hba = "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n";
    let options = ServerOptions {
        tcp: true,
        settings: vec![
            "ssl=on".to_owned(),
            "ssl_cert_file={dir}/server.crt".to_owned(),
            "ssl_key_file={dir}/server.key".to_owned(),
            "hba_file={dir}/pg_hba.conf".to_owned(),
        ],
        files: vec![
            ("server.crt".to_owned(), certificate.into_bytes()),
            ("server.key".to_owned(), key.into_bytes()),
            ("pg_hba.conf".to_owned(), hba.as_bytes().to_vec()),
        ],
        ..ServerOptions::default()
    };
    let cluster =
        LocalCluster::start_temporary_with_options(&ServerBinaries::locate().unwrap(), &options)
            .unwrap();
    let roots = tempfile::tempdir().unwrap();
    let (right, wrong) = (
        roots.path().join("ca.pem"),
        roots.path().join("other-ca.pem"),
    );
    std::fs::write(&right, ca).unwrap();
    std::fs::write(&wrong, other_ca).unwrap();
    let url = |host: &str, query: String| {
        format!(
            "postgresql://postgres@{host}:{}/postgres?{query}",
            cluster.port()
        )
    };
    let verify = |mode: &str, root: &std::path::Path| {
        format!("sslmode={mode}&sslrootcert={}", root.display())
    };

    connect(&url("127.0.0.1", "sslmode=require".to_owned()))
        .await
        .expect("require: encrypted, not verified");
    connect(&url("localhost", "".to_owned()))
        .await
        .expect("prefer (the default) uses TLS when offered");
    connect(&url("localhost", verify("verify-full", &right)))
        .await
        .expect("verify-full with the right CA and host");
    connect(&url("127.0.0.1", verify("verify-ca", &right)))
        .await
        .expect("verify-ca does not check the host name");
    let config = KbConfig::new(&url("localhost", verify("verify-full", &right)))
        .unwrap()
        .with_schema("kb_tls")
        .unwrap();
    aiblox_kb::migrate(&config)
        .await
        .expect("migrations run over verified TLS too");

    for (case, url) in [
        (
            "another authority",
            url("localhost", verify("verify-full", &wrong)),
        ),
        (
            "another authority, verify-ca",
            url("localhost", verify("verify-ca", &wrong)),
        ),
        (
            "another host name",
            url("127.0.0.1", verify("verify-full", &right)),
        ),
        ("no TLS", url("127.0.0.1", "sslmode=disable".to_owned())),
    ] {
        let err = connect(&url).await.expect_err(case);
        assert!(matches!(err, Error::Unavailable { .. }), "{case}: {err}");
    }
    let err = KbConfig::new(&url(
        "localhost",
        "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem".to_owned(),
    ))
    .and_then(|config| KbPool::new(&config))
    .unwrap_err();
    assert!(
        err.to_string().contains("sslrootcert /nonexistent/ca.pem"),
        "{err}"
    );
    cluster.stop();
}
