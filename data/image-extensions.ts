/** File extensions of the images we decode (with sharp, in data/images.ts); here without sharp, for code that only lists them. */
export const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff', '.gif', '.avif']);
