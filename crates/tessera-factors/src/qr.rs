//! The TOTP enrolment URI as a QR code, drawn here as SVG and inlined in the page: no
//! image service sees the secret, and the page's CSP needs no `img-src` beyond itself.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// Data too long for a QR code (an `otpauth://` URI never is).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the data does not fit in a QR code")]
pub struct TooLong;

/// `data` as an SVG element (no XML declaration: it goes inside HTML), at least `size`
/// pixels wide, dark on light with the quiet zone ISO/IEC 18004 asks for, medium error
/// correction.
pub fn svg(data: &str, size: u32) -> Result<String, TooLong> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).map_err(|_| TooLong)?;
    let drawn = code
        .render::<svg::Color<'_>>()
        .min_dimensions(size, size)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .quiet_zone(true)
        .build();
    // The renderer starts with `<?xml …?>`: an HTML page takes the `<svg>` element alone.
    Ok(match drawn.find("<svg") {
        Some(start) => drawn[start..].to_owned(),
        None => drawn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uri_draws_as_one_inline_svg_element() {
        let drawn = svg("otpauth://totp/Acme:ada?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme", 200).unwrap();
        assert!(drawn.starts_with("<svg"), "{drawn}");
        assert!(drawn.trim_end().ends_with("</svg>"));
        assert!(!drawn.contains("<?xml"));
        assert!(!drawn.contains("GEZDGNBV"), "the SVG holds modules, not the text");
        assert!(!drawn.contains("<script"));
    }

    #[test]
    fn different_data_draws_differently() {
        assert_ne!(svg("otpauth://totp/a", 100).unwrap(), svg("otpauth://totp/b", 100).unwrap());
    }

    #[test]
    fn data_too_long_is_an_error() {
        assert_eq!(svg(&"x".repeat(8000), 100), Err(TooLong));
    }
}
