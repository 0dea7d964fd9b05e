//! Names and addresses (pure): every one a DNS label under Slipway's `--domain`, so a build,
//! a branch and a project's production each have a host name of their own.
//!
//! - A **build** is `<project>-<branch>-<id>`: its host name label, Odoo database name and
//!   folder at once. It always ends in `-<digits>`.
//! - A **branch** is reached at `<project>-<branch>` ([`branch_label`]), whichever of its
//!   builds serves now. The branch part is the branch name itself when that is already a
//!   label's tail (lowercase letters, digits, single inner `-`) that does not end in
//!   `-<digits>`; any other name (`feature/New`, `main-9`, one too long) is turned into one
//!   (lowercased, other runs of characters made one `-`, shortened) and gets `-` and a tag
//!   of four letters hashed from the whole name. So a branch label never ends in a digit and
//!   is never taken for a build's (`acme-main-9` is build 9 of `main`; the branch `main-9`
//!   is `acme-main-9-xxxx`), and two names that clean up the same (`feature/a`,
//!   `feature_a`) get different labels.
//! - A project's **production** is reached at `<project>` as well.
//!
//! A label is looked up in that order: a build of that name, a project of that name
//! (production), then a branch ([`branch_label_projects`] lists the projects it may belong
//! to; the longest project name that has the branch wins). A project named like another's
//! branch address (`acme-main` beside `acme`'s `main`) shadows it: the build and project
//! names are the ones that cannot move.

/// The longest DNS label.
const MAX_LABEL: usize = 63;

/// Letters of the tag a cleaned-up branch name gets.
const TAG_LEN: usize = 4;

/// `name` lowercased, every run of characters other than letters and digits turned into one
/// `-`, without `-` at either end.
fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_owned()
}

/// `slug` cut to at most `room` characters, without a `-` left at its end.
fn shortened(slug: &str, room: usize) -> &str {
    let end = slug
        .char_indices()
        .nth(room)
        .map_or(slug.len(), |(at, _)| at);
    slug[..end].trim_end_matches('-')
}

/// The name of build `id` of `branch` in `project`: lowercase, every run of characters other
/// than letters and digits turned into one `-`, the branch part shortened so the whole fits
/// a DNS label (63 characters).
pub fn build_name(project: &str, branch: &str, id: i64) -> String {
    let suffix = format!("-{id}");
    let slug = slug(branch);
    let room = MAX_LABEL.saturating_sub(project.len() + 1 + suffix.len());
    let slug = shortened(&slug, room);
    if slug.is_empty() {
        format!("{project}{suffix}")
    } else {
        format!("{project}-{slug}{suffix}")
    }
}

/// The build id at the end of a build name.
pub fn build_id_of(name: &str) -> Option<i64> {
    name.rsplit('-').next()?.parse().ok()
}

/// Whether `label` ends in `-<digits>`, or is only digits: the shape of a build's name.
fn ends_like_a_build(label: &str) -> bool {
    let last = label.rsplit('-').next().unwrap_or("");
    !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit())
}

/// Four lowercase letters from a hash of `branch` (FNV-1a: stable across Rust releases and
/// machines, unlike `std`'s hasher).
fn tag(branch: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in branch.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (0..TAG_LEN)
        .map(|i| char::from(b'a' + ((hash >> (i * 8)) % 26) as u8))
        .collect()
}

/// The label of `branch`'s address in `project`: `<project>-<branch>`, whichever build of
/// the branch serves (see the module's docs for the rule).
pub fn branch_label(project: &str, branch: &str) -> String {
    let cleaned = slug(branch);
    let room = MAX_LABEL.saturating_sub(project.len() + 1);
    if cleaned == branch && cleaned.len() <= room && !ends_like_a_build(&cleaned) {
        return format!("{project}-{cleaned}");
    }
    let tag = tag(branch);
    let room = room.saturating_sub(TAG_LEN + 1);
    match shortened(&cleaned, room) {
        "" => format!("{project}-{tag}"),
        short => format!("{project}-{short}-{tag}"),
    }
}

/// The project names a branch address `label` may belong to: every part of it before a
/// `-`, longest first (`acme-shop-main`: `acme-shop`, `acme`).
pub fn branch_label_projects(label: &str) -> Vec<&str> {
    let mut projects: Vec<&str> = label
        .match_indices('-')
        .map(|(at, _)| &label[..at])
        .filter(|p| !p.is_empty())
        .collect();
    projects.reverse();
    projects
}

/// Where people reach Slipway's names: `scheme://<label>.<domain>[:port]` (`serve --domain`,
/// and the port Slipway listens on unless it is the scheme's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicAddress {
    /// `http` or `https`.
    pub scheme: String,
    /// Slipway's domain, without a final `.`.
    pub domain: String,
    /// The port, when not the scheme's default.
    pub port: Option<u16>,
}

impl Default for PublicAddress {
    /// `http://<label>.localhost`.
    fn default() -> Self {
        Self::new("http", "localhost", None)
    }
}

impl PublicAddress {
    /// Names under `domain`, reached with `scheme` on `port` (left out when the scheme's
    /// default: 80 for `http`, 443 for `https`).
    pub fn new(scheme: &str, domain: &str, port: Option<u16>) -> Self {
        let default_port = if scheme == "https" { 443 } else { 80 };
        Self {
            scheme: scheme.to_owned(),
            domain: domain.trim().trim_end_matches('.').to_ascii_lowercase(),
            port: port.filter(|p| *p != default_port),
        }
    }

    /// The origin of `label`: `http://acme-main.localhost:8400`, without a final `/`.
    pub fn origin(&self, label: &str) -> String {
        match self.port {
            Some(port) => format!("{}://{label}.{}:{port}", self.scheme, self.domain),
            None => format!("{}://{label}.{}", self.scheme, self.domain),
        }
    }

    /// The address of `branch` of `project`: the project's own for production, which is
    /// what its `web.base.url` is set to.
    pub fn of_branch(&self, project: &str, branch: &str, production: bool) -> String {
        if production {
            self.origin(project)
        } else {
            self.origin(&branch_label(project, branch))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels() {
        assert_eq!(build_name("shop", "main", 7), "shop-main-7");
        assert_eq!(
            build_name("shop", "feature/New_Thing", 12),
            "shop-feature-new-thing-12"
        );
        assert_eq!(build_name("shop", "--", 3), "shop-3");
        let long = build_name("shop", &"x".repeat(200), 123456);
        assert!(long.len() <= 63, "{long}");
        assert!(long.ends_with("-123456"));
    }

    #[test]
    fn the_id_comes_back_from_the_name() {
        assert_eq!(
            build_id_of(&build_name("shop", "feature/a-b", 42)),
            Some(42)
        );
        assert_eq!(build_id_of("nothing"), None);
    }

    #[test]
    fn a_clean_branch_name_is_its_own_address() {
        assert_eq!(branch_label("acme", "main"), "acme-main");
        assert_eq!(branch_label("acme", "dev-42-fix"), "acme-dev-42-fix");
        assert_eq!(branch_label("acme", "v17"), "acme-v17");
    }

    #[test]
    fn a_branch_address_is_never_a_build_name() {
        // `acme-main-9` is build 9 of main; the branch `main-9` must be elsewhere.
        let label = branch_label("acme", "main-9");
        assert_ne!(label, build_name("acme", "main", 9));
        assert!(label.starts_with("acme-main-9-"), "{label}");
        for branch in [
            "main-9",
            "9",
            "2024",
            "x/1",
            "release-17.0",
            &"7".repeat(80),
        ] {
            let label = branch_label("acme", branch);
            assert!(!ends_like_a_build(&label), "{branch}: {label}");
            assert_eq!(build_id_of(&label), None, "{branch}: {label}");
        }
    }

    #[test]
    fn cleaned_up_names_stay_apart() {
        let labels: Vec<String> = [
            "feature/a",
            "feature_a",
            "Feature-A",
            "feature-a",
            "--",
            "é",
        ]
        .iter()
        .map(|b| branch_label("acme", b))
        .collect();
        let mut unique = labels.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), labels.len(), "{labels:?}");
        assert_eq!(branch_label("acme", "feature-a"), "acme-feature-a");
        assert!(branch_label("acme", "feature/a").starts_with("acme-feature-a-"));
        // The tag is the same wherever and whenever it is computed.
        assert_eq!(
            branch_label("acme", "feature/a"),
            branch_label("acme", "feature/a")
        );
    }

    #[test]
    fn branch_addresses_are_dns_labels() {
        let project = "p".repeat(40);
        for branch in [
            "main",
            &"x".repeat(200),
            "a/b/c",
            "--",
            "Ünïcode",
            &"ab-".repeat(40),
        ] {
            let label = branch_label(&project, branch);
            assert!(label.len() <= MAX_LABEL, "{label}");
            assert!(slipway_label_chars(&label), "{label}");
            assert!(!label.ends_with('-') && !label.contains("--"), "{label}");
        }
    }

    fn slipway_label_chars(label: &str) -> bool {
        label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }

    #[test]
    fn a_branch_address_names_the_projects_it_may_be_of() {
        assert_eq!(
            branch_label_projects("acme-shop-main"),
            ["acme-shop", "acme"]
        );
        assert_eq!(branch_label_projects("acme"), Vec::<&str>::new());
        let label = branch_label("acme-shop", "feature/x");
        assert!(branch_label_projects(&label).contains(&"acme-shop"));
    }

    #[test]
    fn public_addresses_carry_their_port_unless_default() {
        let local = PublicAddress::new("http", "localhost.", Some(8400));
        assert_eq!(
            local.of_branch("acme", "main", true),
            "http://acme.localhost:8400"
        );
        assert_eq!(
            local.of_branch("acme", "dev", false),
            "http://acme-dev.localhost:8400"
        );
        let public = PublicAddress::new("https", "Slipway.Example", Some(443));
        assert_eq!(public.origin("acme"), "https://acme.slipway.example");
        assert_eq!(
            PublicAddress::new("http", "x.test", Some(80)).origin("a"),
            "http://a.x.test"
        );
    }
}
