//! Scopes bind a sealed value to where it may be unsealed, through the RSA-OAEP label.

use std::fmt;
use std::str::FromStr;

/// Annotation (value `"true"`) that makes a SealedSecret namespace-wide.
pub const NAMESPACE_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/namespace-wide";
/// Annotation (value `"true"`) that makes a SealedSecret cluster-wide; wins over namespace-wide.
pub const CLUSTER_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/cluster-wide";

/// Where a sealed value may be unsealed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Only under the same namespace and name (label `<namespace>/<name>`).
    #[default]
    Strict,
    /// Under any name in the same namespace (label `<namespace>`).
    NamespaceWide,
    /// Anywhere (empty label).
    ClusterWide,
}

impl Scope {
    /// All scopes, in the order kubeseal documents them.
    pub const ALL: [Scope; 3] = [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide];

    /// The scope a SealedSecret's own top-level annotations select. Only the exact value `"true"` counts.
    pub fn from_annotations<'a>(mut get: impl FnMut(&str) -> Option<&'a str>) -> Scope {
        if get(CLUSTER_WIDE_ANNOTATION) == Some("true") {
            Scope::ClusterWide
        } else if get(NAMESPACE_WIDE_ANNOTATION) == Some("true") {
            Scope::NamespaceWide
        } else {
            Scope::Strict
        }
    }

    /// The annotation that marks this scope on a SealedSecret, if any.
    pub fn annotation(self) -> Option<&'static str> {
        match self {
            Scope::Strict => None,
            Scope::NamespaceWide => Some(NAMESPACE_WIDE_ANNOTATION),
            Scope::ClusterWide => Some(CLUSTER_WIDE_ANNOTATION),
        }
    }

    /// The kubeseal name of the scope.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Strict => "strict",
            Scope::NamespaceWide => "namespace-wide",
            Scope::ClusterWide => "cluster-wide",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| {
                format!("unknown scope {s:?}: use strict, namespace-wide or cluster-wide")
            })
    }
}

/// The RSA-OAEP label of a value sealed for `namespace`/`name` in `scope`.
pub fn label(scope: Scope, namespace: &str, name: &str) -> Vec<u8> {
    match scope {
        Scope::Strict => format!("{namespace}/{name}").into_bytes(),
        Scope::NamespaceWide => namespace.as_bytes().to_vec(),
        Scope::ClusterWide => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_sealed_secrets() {
        assert_eq!(label(Scope::Strict, "prod", "db"), b"prod/db");
        assert_eq!(label(Scope::NamespaceWide, "prod", "db"), b"prod");
        assert_eq!(label(Scope::ClusterWide, "prod", "db"), b"");
    }

    #[test]
    fn cluster_wide_wins_and_only_true_counts() {
        let both = |k: &str| match k {
            CLUSTER_WIDE_ANNOTATION | NAMESPACE_WIDE_ANNOTATION => Some("true"),
            _ => None,
        };
        assert_eq!(Scope::from_annotations(both), Scope::ClusterWide);
        let yes = |k: &str| (k == NAMESPACE_WIDE_ANNOTATION).then_some("yes");
        assert_eq!(Scope::from_annotations(yes), Scope::Strict);
        let ns = |k: &str| (k == NAMESPACE_WIDE_ANNOTATION).then_some("true");
        assert_eq!(Scope::from_annotations(ns), Scope::NamespaceWide);
    }

    #[test]
    fn names_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>().unwrap(), scope);
        }
        assert!(
            "global"
                .parse::<Scope>()
                .unwrap_err()
                .contains("cluster-wide")
        );
    }
}
