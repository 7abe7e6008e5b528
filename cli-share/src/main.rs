//! `share`: run a shell or coding agent in a PTY and share it live (`/share`), or watch a
//! shared session (`share watch URL`).

use std::process::ExitCode;

use cli_share::Invocation;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHARE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,relay=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let invocation = Invocation::from_env();
    // Before any other thread runs: reading them touches the environment.
    cli_share::client::system_roots();
    // One thread for everything async: what wakes on the PTY's output makes the frame and
    // hands it to QUIC without waking another thread (the emulator, the terminal's input
    // and output run on threads of their own).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("share: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(cli_share::run(invocation));
    // The stdin reader thread may be blocked in a read: do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(error) => {
            // The error may quote the relay (a refusal, a close reason).
            eprintln!("share: {}", cli_share::one_line(&format!("{error:#}")));
            ExitCode::FAILURE
        }
    }
}
