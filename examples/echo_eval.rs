fn main() { let _ = sonora_aec3::config::EchoCanceller3Config::default(); }
