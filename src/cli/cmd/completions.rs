use clap::{Args, CommandFactory};

use crate::cli::Cli;

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell, e.g. `cellar completions bash > /etc/bash_completion.d/cellar`, or
    /// `cellar completions zsh > "${fpath[1]}/_cellar"`.
    shell: clap_complete::Shell,
}

pub fn run(a: CompletionsArgs) -> u8 {
    clap_complete::generate(a.shell, &mut Cli::command(), "cellar", &mut std::io::stdout());
    0
}
