use super::*;
use crate::media::analysis::lowpassed_noise;

/// Speech-like far end: low-passed noise bursts (300 ms on, 200 ms off)
/// at about −20 dBFS.
fn far_signal(frames: usize, seed: u32) -> Vec<i16> {
    let noise = lowpassed_noise(seed, frames * FRAME);
    noise
        .iter()
        .enumerate()
        .map(|(n, &x)| {
            let on = (n / 8) % 500 < 300;
            if on {
                (x * 20000.0) as i16
            } else {
                0
            }
        })
        .collect()
}

fn delayed(x: &[i16], samples: usize, gain: f32) -> Vec<i16> {
    (0..x.len())
        .map(|n| {
            if n < samples {
                0
            } else {
                (f32::from(x[n - samples]) * gain) as i16
            }
        })
        .collect()
}

#[test]
fn digital_silence_both_ways_stays_silent_and_flags_nothing() {
    let mut ec = EchoControl::new(EchoConfig::default());
    for _ in 0..100 {
        ec.far_end(&[0; FRAME]);
        let mut near = [0i16; FRAME];
        let v = ec.near_end(&mut near);
        assert_eq!(near, [0; FRAME]);
        assert!(!v.far_end_active && !v.echo_only && !v.near_speech);
        assert_eq!(v.level_in_dbfs, -100.0);
    }
    assert_eq!(ec.delay_ms(), None);
}

#[test]
fn with_no_far_end_the_caller_passes_untouched() {
    let mut ec = EchoControl::new(EchoConfig::default());
    let caller = far_signal(100, 9);
    for k in 0..100 {
        ec.far_end(&[0; FRAME]);
        let mut near = [0i16; FRAME];
        near.copy_from_slice(&caller[k * FRAME..(k + 1) * FRAME]);
        let v = ec.near_end(&mut near);
        assert_eq!(&near[..], &caller[k * FRAME..(k + 1) * FRAME]);
        assert!(!v.echo_only);
    }
}

#[test]
fn delayed_attenuated_far_end_is_found_and_suppressed_by_30_db() {
    let frames = 250; // 5 s
    let far = far_signal(frames, 3);
    let near = delayed(&far, 230 * 8, 0.3); // 230 ms, about 10 dB down
    let mut ec = EchoControl::new(EchoConfig::default());
    let (mut e_in, mut e_out) = (0.0f64, 0.0f64);
    for k in 0..frames {
        ec.far_end(&far[k * FRAME..(k + 1) * FRAME]);
        let mut buf = [0i16; FRAME];
        buf.copy_from_slice(&near[k * FRAME..(k + 1) * FRAME]);
        let v = ec.near_end(&mut buf);
        assert!(!v.near_speech, "frame {k}: echo taken for the caller");
        if k >= 100 {
            e_in += near[k * FRAME..(k + 1) * FRAME]
                .iter()
                .map(|&s| f64::from(s).powi(2))
                .sum::<f64>();
            e_out += buf.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
        }
    }
    let delay = ec.delay_ms().expect("delay found");
    assert!((delay as i32 - 230).abs() <= 8, "delay {delay} ms");
    let erle = 10.0 * (e_in / e_out.max(1.0)).log10();
    assert!(erle >= 30.0, "ERLE {erle:.1} dB");
}

#[test]
fn a_loud_caller_over_the_echo_is_near_speech_in_its_first_frame_and_passes_at_unity_gain() {
    let frames = 200;
    let far = far_signal(frames, 5);
    let echo = delayed(&far, 100 * 8, 0.3);
    let caller = lowpassed_noise(77, frames * FRAME);
    let mut ec = EchoControl::new(EchoConfig::default());
    let onset = 150;
    for k in 0..frames {
        ec.far_end(&far[k * FRAME..(k + 1) * FRAME]);
        let mut buf = [0i16; FRAME];
        for (i, b) in buf.iter_mut().enumerate() {
            let n = k * FRAME + i;
            let c = if k >= onset {
                (caller[n] * 30000.0) as i16
            } else {
                0
            };
            *b = echo[n].saturating_add(c);
        }
        let input = buf;
        let v = ec.near_end(&mut buf);
        if k == onset {
            assert!(v.near_speech, "caller onset missed");
            assert!(!v.echo_only);
        }
        if k > onset {
            assert_eq!(buf, input, "frame {k}: caller speech was attenuated");
        }
    }
}

#[test]
fn a_frame_of_the_wrong_length_passes_untouched() {
    let mut ec = EchoControl::new(EchoConfig::default());
    ec.far_end(&[1000; 80]); // short far frame: padded, no panic
    let mut odd = [1234i16; 100];
    let v = ec.near_end(&mut odd);
    assert_eq!(odd, [1234; 100]);
    assert!(!v.near_speech && !v.echo_only);
}

#[test]
fn reset_forgets_the_delay() {
    let frames = 150;
    let far = far_signal(frames, 11);
    let near = delayed(&far, 60 * 8, 0.3);
    let mut ec = EchoControl::new(EchoConfig::default());
    for k in 0..frames {
        ec.far_end(&far[k * FRAME..(k + 1) * FRAME]);
        let mut buf = [0i16; FRAME];
        buf.copy_from_slice(&near[k * FRAME..(k + 1) * FRAME]);
        ec.near_end(&mut buf);
    }
    assert!(ec.delay_ms().is_some());
    ec.reset();
    assert_eq!(ec.delay_ms(), None);
}
