//! The `cellar` command. All logic lives in the library; see `cli/`.

fn main() -> std::process::ExitCode {
    cellar::cli::main()
}
