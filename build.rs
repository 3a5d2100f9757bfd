//! Compiles the touchscreen's pages (`ui/app.slint`) with the Bahasa Indonesia
//! translation bundled, so that the language switch needs no files at run time.

fn main() {
    let config = slint_build::CompilerConfiguration::new()
        .with_bundled_translations("ui/translations")
        // Strings are looked up by their English text alone, whatever page says them.
        .with_default_translation_context(slint_build::DefaultTranslationContext::None)
        .embed_resources(slint_build::EmbedResourcesKind::EmbedFiles);
    if let Err(e) = slint_build::compile_with_config("ui/app.slint", config) {
        // A build script reports by panicking; the message is the compiler's diagnostics.
        panic!("ui/app.slint does not compile: {e}");
    }
}
