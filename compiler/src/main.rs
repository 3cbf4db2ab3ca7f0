//! The `l7mpc` command line: parses arguments, reads files, runs the library's one pipeline,
//! sets the exit code (0 clean, 1 diagnostics that fail the run or, for `diff`, a difference,
//! 2 usage or I/O errors).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use clap_complete::Shell;
use l7mpc::compile::{Compiled, Options, compile};
use l7mpc::diagnostics::{Format, render};
use l7mpc::emit::{Contents, Emitted};
use l7mpc::graph::{GraphFormat, Renderer};
use l7mpc::load::{ReadError, SourceFile, read_sources};
use l7mpc::output::{self, dir};

/// jemalloc rather than glibc's allocator: a compile makes and frees millions of small values
/// (YAML nodes, JSON maps, strings), and on a large mesh glibc's allocator spent a fifth of the
/// time merging and splitting free chunks, more the larger the mesh. `benches/compile.rs`
/// measures under the same allocator.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings ([`l7mpc::ALLOCATOR_SETTINGS`]), read when it starts.
#[unsafe(export_name = "_rjem_malloc_conf")]
static ALLOCATOR_SETTINGS: &[u8; 10] = l7mpc::ALLOCATOR_SETTINGS;

/// The version with the commit it was built from (`unknown` outside a git checkout).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("L7MP_COMMIT"),
    ")"
);

/// Compiles l7mp.io/v1 VirtualService, Target and Rule resources plus workload manifests into
/// per-pod l7mp proxy configs.
#[derive(Parser)]
#[command(name = "l7mpc", version = VERSION, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validates the resources and reports every problem `compile` would, writing nothing.
    Check(CheckArgs),
    /// Compiles the resources into ConfigMaps (and headless Services) for `kubectl apply -f -`.
    Compile(CompileArgs),
    /// Compares the compiled objects with a cluster dump or an output directory.
    Diff(DiffArgs),
    /// Draws the mesh's dataflow graph.
    Graph(GraphArgs),
    /// Adds the l7mp sidecar to workload manifests and prints them.
    Inject(InjectArgs),
    /// Prints the VirtualService, Target and Rule CRDs as one YAML stream.
    Crds,
    /// Prints a shell completion script (e.g. `l7mpc completions bash > /etc/bash_completion.d/l7mpc`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Prints a manual page in roff (`l7mpc man | man -l -`; `l7mpc man compile` for a command's).
    Man {
        /// The command whose page to print; l7mpc's own without one.
        command: Option<String>,
    },
}

/// The input options every command that compiles shares.
#[derive(Args)]
struct InputArgs {
    /// Files or directories (recursively, *.yaml and *.yml) to read; `-` reads stdin.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    files: Vec<PathBuf>,
    /// Namespace of objects whose manifest names none.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// A `kubectl get pods -o yaml` snapshot: endpoints become pod IPs, no Services.
    #[arg(long, value_name = "FILE")]
    pods: Option<PathBuf>,
    /// Fails the run on warnings too.
    #[arg(long)]
    deny_warnings: bool,
    /// Lists each document skipped because the compiler does not read its kind.
    #[arg(short, long)]
    verbose: bool,
    /// Never colours the diagnostics (also off when they do not go to a terminal or NO_COLOR
    /// is set to anything but the empty string).
    #[arg(long)]
    no_color: bool,
}

#[derive(Args)]
struct InjectArgs {
    /// Manifests to inject (files, directories, `-` for stdin); other kinds pass through.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    files: Vec<PathBuf>,
    /// The mesh's l7mp.io objects, read to share Unix sockets' volumes but not printed.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    mesh: Vec<PathBuf>,
    /// The proxy image.
    #[arg(long, default_value = l7mpc::inject::DEFAULT_IMAGE)]
    image: String,
    /// Namespace of objects whose manifest names none.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Format of the diagnostics, which go to stderr.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    diagnostics: Format,
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Format of the diagnostics, which go to stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Args)]
struct CompileArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Format of the diagnostics, which go to stderr.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    diagnostics: Format,
    /// Output format: a YAML stream, a JSON `v1 List`, or `kind/name` lines.
    #[arg(short = 'o', long, value_enum, default_value_t = output::Format::Yaml)]
    output: output::Format,
    /// Writes one file per object under DIR/<namespace>/ instead of stdout, and removes the
    /// files of objects an earlier run wrote that are gone.
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// What to write; `config` (bare proxy configs) only as YAML.
    #[arg(long, value_enum, default_value_t = Contents::Configmap)]
    format: Contents,
}

#[derive(Args)]
struct DiffArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Format of the diagnostics, which go to stderr.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    diagnostics: Format,
    /// A directory written by `compile --output-dir`, or a file holding the output of
    /// `kubectl get configmaps,services -o yaml` (or `-o json`).
    #[arg(long, value_name = "DIR|FILE")]
    against: PathBuf,
}

#[derive(Args)]
struct GraphArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Format of the diagnostics, which go to stderr.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    diagnostics: Format,
    /// Drawing language [default: from the `-o` file's extension, else dot].
    #[arg(long, value_enum)]
    format: Option<GraphFormat>,
    /// Who lays out SVG: Graphviz's `dot` when installed (auto), only Graphviz, or built in.
    #[arg(long, value_enum, default_value_t = Renderer::Auto)]
    renderer: Renderer,
    /// Writes the drawing to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check(args) => run_check(&args),
        Command::Compile(args) => run_compile(&args),
        Command::Diff(args) => run_diff(&args),
        Command::Graph(args) => run_graph(&args),
        Command::Inject(args) => run_inject(&args),
        Command::Crds => {
            print_out(&l7mpc::crd::crds_yaml());
            ExitCode::SUCCESS
        }
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "l7mpc", &mut out);
            print_out(&String::from_utf8_lossy(&out));
            ExitCode::SUCCESS
        }
        Command::Man { command } => man(command.as_deref()),
    }
}

/// Where a command's diagnostics go: `check`'s are its output, the others' are on stderr.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

/// Reads the input, runs the pipeline, and reports: the skipped documents on stderr, the
/// diagnostics on `stream`. Err(2) when the input cannot be read, Err(1) when it is refused
/// (too large, not UTF-8). The result is never freed (see [`kept_until_exit`]).
fn run(input: &InputArgs, format: Format, stream: Stream) -> Result<&'static Compiled, ExitCode> {
    let terminal = match stream {
        Stream::Stdout => std::io::stdout().is_terminal(),
        Stream::Stderr => std::io::stderr().is_terminal(),
    };
    let color = !input.no_color && !no_color_env() && terminal;
    let print = match stream {
        Stream::Stdout => print_out,
        Stream::Stderr => print_err,
    };
    let unreadable = |e: ReadError| unread(e, format, color, print);
    let files = read_sources(&input.files).map_err(unreadable)?;
    let pods = match &input.pods {
        Some(path) => Some(read_sources(std::slice::from_ref(path)).map_err(unreadable)?),
        None => None,
    };
    let options = Options {
        namespace: input.namespace.clone(),
    };
    let compiled = compile(&files, pods.as_deref(), &options);
    if input.verbose {
        for skipped in &compiled.skipped {
            eprintln!("l7mpc: skipped {skipped}");
        }
    }
    if let Some(summary) = compiled.skipped_summary() {
        eprintln!("l7mpc: {summary}");
    }
    let texts = by_name(files.iter().chain(pods.iter().flatten()));
    let text = |name: &str| texts.get(name).copied();
    let rendered = render(&compiled.diagnostics, text, format, color);
    if stream == Stream::Stdout || !compiled.diagnostics.is_empty() {
        print(&rendered);
    }
    Ok(kept_until_exit(compiled))
}

/// `value`, never to be freed: every command ends the process right after using what it
/// compiled, and the kernel takes a process's memory back at once, while freeing a large
/// mesh's objects, plans and graph one value at a time touches every one of them again (on
/// the 16x bench mesh, a tenth of the compile). Compilers such as clang skip that free too.
fn kept_until_exit<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

fn run_check(args: &CheckArgs) -> ExitCode {
    match run(&args.input, args.format, Stream::Stdout) {
        Ok(compiled) if compiled.failed(args.input.deny_warnings) => ExitCode::from(1),
        Ok(_) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

/// Runs the pipeline for a command that needs the output: Err(`failed`) when it fails.
fn output_of(
    input: &InputArgs,
    diagnostics: Format,
    failed: u8,
) -> Result<&'static l7mpc::emit::Output, ExitCode> {
    let compiled = run(input, diagnostics, Stream::Stderr)?;
    match &compiled.output {
        Some(output) if !compiled.failed(input.deny_warnings) => Ok(output),
        _ => Err(ExitCode::from(failed)),
    }
}

fn run_compile(args: &CompileArgs) -> ExitCode {
    if args.format == Contents::Config && args.output == output::Format::Json {
        return usage("--format config writes the bare proxy configs, which come only as YAML");
    }
    let output = match output_of(&args.input, args.diagnostics, 1) {
        Ok(output) => output,
        Err(code) => return code,
    };
    let docs = output.documents(args.format);
    match &args.output_dir {
        None => match output::stream(&docs, args.output) {
            Ok(text) => {
                print_out(&text);
                ExitCode::SUCCESS
            }
            Err(bug) => usage(&bug),
        },
        Some(dir) => write_dir(dir, &docs, args),
    }
}

/// `--output-dir`: writes the files, says what it removed, lists names under `-o name`.
fn write_dir(dir: &Path, docs: &[&Emitted], args: &CompileArgs) -> ExitCode {
    if let Err(e) = dir::prepare(dir) {
        return usage(&format!("--output-dir {e}"));
    }
    let files: Result<Vec<_>, _> = docs
        .iter()
        .map(|d| dir::file(d, args.format, args.output))
        .collect();
    let report = match files.map(|files| dir::write(dir, &files).map_err(|e| e.to_string())) {
        Ok(Ok(report)) => report,
        Ok(Err(e)) | Err(e) => return usage(&e),
    };
    for removed in &report.removed {
        eprintln!("l7mpc: removed {} (its object is gone)", removed.display());
    }
    if args.output == output::Format::Name {
        let names: String = docs.iter().map(|d| output::name(d) + "\n").collect();
        print_out(&names);
    }
    ExitCode::SUCCESS
}

fn run_diff(args: &DiffArgs) -> ExitCode {
    // Like `kubectl diff`: 1 means a difference, so a run that cannot compare exits 2.
    let output = match output_of(&args.input, args.diagnostics, 2) {
        Ok(output) => output,
        Err(code) => return code,
    };
    let other = match l7mpc::diff::live::read(&args.against) {
        Ok(other) => other,
        Err(e) => return usage(&e.to_string()),
    };
    let docs = output.documents(Contents::Configmap);
    match l7mpc::diff::diff(&docs, other, &args.input.namespace) {
        Ok(text) if text.is_empty() => ExitCode::SUCCESS,
        Ok(text) => {
            print_out(&text);
            ExitCode::from(1)
        }
        Err(bug) => usage(&bug),
    }
}

fn run_graph(args: &GraphArgs) -> ExitCode {
    let compiled = match run(&args.input, args.diagnostics, Stream::Stderr) {
        Ok(compiled) if compiled.failed(args.input.deny_warnings) => return ExitCode::from(1),
        Ok(compiled) => compiled,
        Err(code) => return code,
    };
    let from_file = args.output.as_deref().and_then(GraphFormat::of_path);
    let format = args.format.or(from_file).unwrap_or(GraphFormat::Dot);
    let drawing = match l7mpc::graph::draw(&compiled.mesh, format, args.renderer) {
        Ok(drawing) => drawing,
        Err(e) => return usage(&e.to_string()),
    };
    if let Some(note) = &drawing.note {
        eprintln!("l7mpc: {note}");
    }
    let Some(path) = &args.output else {
        print_out(&drawing.text);
        return ExitCode::SUCCESS;
    };
    match std::fs::write(path, &drawing.text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => usage(&format!("{}: {e}", path.display())),
    }
}

/// `l7mpc man [COMMAND]`: the page of l7mpc or of one of its commands.
fn man(command: Option<&str>) -> ExitCode {
    let mut cli = Cli::command();
    // Building gives each command its page name (`l7mpc-compile`).
    cli.build();
    let page = match command {
        None => cli,
        Some(name) => match cli.find_subcommand(name) {
            Some(sub) => sub.clone(),
            None => {
                let names: Vec<_> = cli.get_subcommands().map(|s| s.get_name()).collect();
                return usage(&format!(
                    "no command `{name}`; the commands are {}",
                    names.join(", ")
                ));
            }
        },
    };
    let mut out = Vec::new();
    // Rendering into a Vec cannot fail.
    let _ = clap_mangen::Man::new(page).render(&mut out);
    print_out(&String::from_utf8_lossy(&out));
    ExitCode::SUCCESS
}

/// Reports a usage or I/O error: exit 2.
fn usage(message: &str) -> ExitCode {
    eprintln!("l7mpc: {message}");
    ExitCode::from(2)
}

fn run_inject(args: &InjectArgs) -> ExitCode {
    let color = !no_color_env() && std::io::stderr().is_terminal();
    let read = |paths: &[PathBuf]| {
        read_sources(paths).map_err(|e| unread(e, args.diagnostics, color, print_err))
    };
    let (files, mesh) = match (read(&args.files), read(&args.mesh)) {
        (Ok(files), Ok(mesh)) => (files, mesh),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let options = l7mpc::inject::Options {
        image: args.image.clone(),
        namespace: args.namespace.clone(),
    };
    let injected = kept_until_exit(l7mpc::inject::inject(&files, &mesh, &options));
    let texts = by_name(files.iter().chain(&mesh));
    let text = |name: &str| texts.get(name).copied();
    if !injected.diagnostics.is_empty() {
        let rendered = render(&injected.diagnostics, text, args.diagnostics, color);
        print_err(&rendered);
    }
    match &injected.output {
        Some(output) => {
            print_out(output);
            ExitCode::SUCCESS
        }
        None => ExitCode::from(1),
    }
}

/// Reports input that was not read: an I/O error is a usage error (2); input refused as too
/// large or not UTF-8 is diagnostics, written by `print` in `format`, and fails the run (1).
fn unread(error: ReadError, format: Format, color: bool, print: fn(&str)) -> ExitCode {
    match error {
        ReadError::Io(e) => usage(&e.to_string()),
        ReadError::Refused(diagnostics) => {
            print(&render(&diagnostics, |_| None, format, color));
            ExitCode::from(1)
        }
    }
}

/// Each file's text by its name, for the diagnostics' excerpts: a lookup per file with
/// diagnostics must not scan every file, or thousands of files cost their number squared.
fn by_name<'f>(files: impl IntoIterator<Item = &'f SourceFile>) -> HashMap<&'f str, &'f str> {
    files
        .into_iter()
        .map(|f| (f.name.as_str(), &*f.text))
        .collect()
}

/// Writes to stdout, ignoring a closed pipe (`l7mpc crds | head` must not panic).
fn print_out(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}

/// Writes to stderr, where every command but `check` puts its diagnostics.
fn print_err(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// Whether `NO_COLOR` turns colour off: set to anything but the empty string (no-color.org).
fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}
