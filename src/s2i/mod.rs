//! Source-to-Image: the logic behind builders/s2i/{assemble,run,save-artifacts,usage}.
