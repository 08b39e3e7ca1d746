//! Protocol revisions, their era, and legacy version negotiation.

/// A protocol revision Keel serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// 2024-11-05 (HTTP+SSE era; served over Streamable HTTP and stdio).
    V2024_11_05,
    /// 2025-03-26.
    V2025_03_26,
    /// 2025-06-18.
    V2025_06_18,
    /// 2025-11-25, the last session-based revision.
    V2025_11_25,
    /// 2026-07-28, stateless with per-request `_meta`.
    V2026_07_28,
}

/// Whether a revision uses the `initialize` handshake (legacy) or per-request metadata (modern).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Era {
    /// Session-based revisions, 2025-11-25 and earlier.
    Legacy,
    /// Per-request metadata revisions, 2026-07-28 and later.
    Modern,
}

/// Every revision served, newest first, as `UnsupportedProtocolVersion` lists them.
pub const SUPPORTED_VERSIONS: [&str; 5] = [
    "2026-07-28",
    "2025-11-25",
    "2025-06-18",
    "2025-03-26",
    "2024-11-05",
];

impl ProtocolVersion {
    /// The newest legacy revision, offered when a client asks for one Keel does not know.
    pub const LATEST_LEGACY: Self = Self::V2025_11_25;
    /// The newest revision.
    pub const LATEST: Self = Self::V2026_07_28;

    /// Parses a revision string; `None` for any revision not served.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "2026-07-28" => Self::V2026_07_28,
            "2025-11-25" => Self::V2025_11_25,
            "2025-06-18" => Self::V2025_06_18,
            "2025-03-26" => Self::V2025_03_26,
            "2024-11-05" => Self::V2024_11_05,
            _ => return None,
        })
    }

    /// The revision string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2026_07_28 => "2026-07-28",
            Self::V2025_11_25 => "2025-11-25",
            Self::V2025_06_18 => "2025-06-18",
            Self::V2025_03_26 => "2025-03-26",
            Self::V2024_11_05 => "2024-11-05",
        }
    }

    /// The era of this revision.
    pub fn era(self) -> Era {
        if self >= Self::V2026_07_28 {
            Era::Modern
        } else {
            Era::Legacy
        }
    }

    /// Whether results carry `structuredContent` / `outputSchema` (2025-06-18 and later).
    pub fn has_structured_output(self) -> bool {
        self >= Self::V2025_06_18
    }
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Legacy `initialize` negotiation: the requested revision if it is a legacy one Keel serves,
/// otherwise the newest legacy revision (the client then decides whether it can continue).
pub fn negotiate_legacy(requested: &str) -> ProtocolVersion {
    match ProtocolVersion::parse(requested) {
        Some(v) if v.era() == Era::Legacy => v,
        _ => ProtocolVersion::LATEST_LEGACY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_supported_version_and_round_trips() {
        for s in SUPPORTED_VERSIONS {
            assert_eq!(ProtocolVersion::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(ProtocolVersion::parse("1900-01-01"), None);
    }

    #[test]
    fn eras_split_at_2026() {
        assert_eq!(ProtocolVersion::V2026_07_28.era(), Era::Modern);
        assert_eq!(ProtocolVersion::V2025_11_25.era(), Era::Legacy);
    }

    #[test]
    fn legacy_negotiation_keeps_known_and_falls_back_otherwise() {
        assert_eq!(negotiate_legacy("2025-03-26"), ProtocolVersion::V2025_03_26);
        assert_eq!(negotiate_legacy("2099-01-01"), ProtocolVersion::V2025_11_25);
        assert_eq!(negotiate_legacy("2026-07-28"), ProtocolVersion::V2025_11_25);
    }
}
