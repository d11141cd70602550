//! `usage`: what the builder image prints when it is run without a command.
const TEMPLATE: &str = include_str!("../../templates/s2i-usage.txt");

/// The name the image was built as (`$WARP_BUILDER_IMAGE`, set by the Containerfile).
pub fn image_name() -> String {
    std::env::var("WARP_BUILDER_IMAGE")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "warp-builder".to_string())
}

pub fn text(image: &str) -> String {
    TEMPLATE.replace("{image}", image)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_the_image_everywhere() {
        let text = super::text("quay.io/me/warp-builder:1");
        assert!(text.contains("s2i build . quay.io/me/warp-builder:1 your-app"));
        assert!(text.contains("oc new-app quay.io/me/warp-builder:1~https://"));
        assert!(!text.contains("{image}"));
    }
}
