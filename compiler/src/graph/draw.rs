//! Choosing the drawing: the language, and for SVG who lays it out.

use std::path::Path;

use super::graphviz::{self, GraphvizError};
use super::{Mesh, render, svg};

/// The drawing languages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz text.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
    /// An SVG picture.
    Svg,
}

impl GraphFormat {
    /// The format a file name's extension asks for: `.dot`/`.gv`, `.mmd`/`.mermaid`, `.svg`.
    pub fn of_path(path: &Path) -> Option<GraphFormat> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "dot" | "gv" => Some(GraphFormat::Dot),
            "mmd" | "mermaid" => Some(GraphFormat::Mermaid),
            "svg" => Some(GraphFormat::Svg),
            _ => None,
        }
    }
}

/// Who lays out an SVG picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Renderer {
    /// Graphviz when `dot` is installed and works, else the built-in layout.
    Auto,
    /// Graphviz's `dot`; an error without it.
    Graphviz,
    /// The built-in layered layout.
    Builtin,
}

/// A drawing and, when Graphviz failed and the built-in layout stood in, why.
#[derive(Clone, Debug)]
pub struct Drawing {
    /// The drawing's text.
    pub text: String,
    /// Why the built-in layout drew an `auto` picture although `dot` is installed.
    pub note: Option<String>,
}

/// Draws `mesh` in `format`; `renderer` picks who lays out SVG.
pub fn draw(
    mesh: &Mesh,
    format: GraphFormat,
    renderer: Renderer,
) -> Result<Drawing, GraphvizError> {
    let drawing = |text| Drawing { text, note: None };
    match (format, renderer) {
        (GraphFormat::Dot, _) => Ok(drawing(render::dot(mesh))),
        (GraphFormat::Mermaid, _) => Ok(drawing(render::mermaid(mesh))),
        (GraphFormat::Svg, Renderer::Builtin) => Ok(drawing(svg::svg(mesh))),
        (GraphFormat::Svg, Renderer::Graphviz) => graphviz::svg(&render::dot(mesh)).map(drawing),
        (GraphFormat::Svg, Renderer::Auto) => match graphviz::svg(&render::dot(mesh)) {
            Ok(text) => Ok(drawing(text)),
            Err(GraphvizError::Missing) => Ok(drawing(svg::svg(mesh))),
            Err(e) => Ok(Drawing {
                text: svg::svg(mesh),
                note: Some(format!("{e}; drew with the built-in layout instead")),
            }),
        },
    }
}
