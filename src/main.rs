//! The `tagpilot` binary: installs the TLS crypto provider and hands over to the CLI.

fn main() -> std::process::ExitCode {
    // One TLS stack for every HTTP client (reqwest, kube, the AWS SDK): rustls with aws-lc-rs.
    // Installing fails only if a provider is already installed, which is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    tagpilot::cli::main()
}
