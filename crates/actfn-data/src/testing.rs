//! Small synthetic data in each format, for tests here and in the crates that use this one.

use std::io::Write;
use std::path::Path;

/// Writes a `width x height` PNG at `path` whose pixels are `value` (grey, or RGB
/// `value, value / 2, 255 - value` when `colour`); creates the folder.
pub fn write_png(path: &Path, width: u32, height: u32, value: u8, colour: bool) {
    std::fs::create_dir_all(path.parent().expect("a file in a folder")).expect("create folder");
    if colour {
        image::RgbImage::from_pixel(width, height, image::Rgb([value, value / 2, 255 - value]))
            .save_with_format(path, image::ImageFormat::Png)
            .expect("write png");
    } else {
        image::GrayImage::from_pixel(width, height, image::Luma([value]))
            .save_with_format(path, image::ImageFormat::Png)
            .expect("write png");
    }
}

/// An image folder at `root`: `train/<class>/<i>.png`, `per_class` images of every class,
/// each filled with a value of its class and index.
pub fn write_folder(
    root: &Path,
    classes: &[&str],
    per_class: usize,
    width: u32,
    height: u32,
    colour: bool,
) {
    for (c, class) in classes.iter().enumerate() {
        for i in 0..per_class {
            let value = (c * 40 + i * 7) as u8;
            write_png(
                &root.join("train").join(class).join(format!("{i}.png")),
                width,
                height,
                value,
                colour,
            );
        }
    }
}

/// Writes an `.npz` of raw arrays: (name, NumPy dtype string such as `|u1` or `<f4`,
/// shape, little-endian bytes), without checking that bytes and shape agree, so that
/// tests can write what NumPy would refuse to read back as data.
pub fn write_npz_arrays(path: &Path, arrays: &[(&str, &str, &[u64], Vec<u8>)]) {
    let file = std::fs::File::create(path).expect("create npz");
    let mut zip = zip::ZipWriter::new(file);
    for (name, descr, shape, bytes) in arrays {
        zip.start_file(format!("{name}.npy"), zip::write::FileOptions::default())
            .expect("zip entry");
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let shape_text = match dims.len() {
            1 => format!("({},)", dims[0]),
            _ => format!("({})", dims.join(", ")),
        };
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
        // NumPy pads the header so that the data start on a multiple of 64 bytes.
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        zip.write_all(b"\x93NUMPY\x01\x00").unwrap();
        zip.write_all(&(header.len() as u16).to_le_bytes()).unwrap();
        zip.write_all(header.as_bytes()).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().expect("finish npz");
}
