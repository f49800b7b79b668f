//! A `wasi:cli/command` component: it exports `wasi:cli/run`, none of the plugin worlds.

fn main() {
    println!("I am a command, not a plugin");
}
