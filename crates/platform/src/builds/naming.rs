//! Build names (pure): `<project>-<branch>-<id>`, usable as a DNS label, an Odoo database
//! name and a directory name at once.

/// The longest DNS label.
const MAX_LABEL: usize = 63;

/// The name of build `id` of `branch` in `project`: lowercase, every run of characters other
/// than letters and digits turned into one `-`, the branch part shortened so the whole fits
/// a DNS label (63 characters).
pub fn build_name(project: &str, branch: &str, id: i64) -> String {
    let suffix = format!("-{id}");
    let mut slug = String::new();
    for c in branch.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    let room = MAX_LABEL.saturating_sub(project.len() + 1 + suffix.len());
    let slug: String = slug.chars().take(room).collect();
    let slug = slug.trim_end_matches('-');
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
}
