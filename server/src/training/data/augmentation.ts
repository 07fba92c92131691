/** Augmentation (in progress). */
export interface AugmentationParams {
  /** rotation range in radians per axis, nnU-Net's rotation_for_DA */
  rotation: [number, number];
  pRotation: number;
  scaling: [number, number];
  pScaling: number;
  pElasticDeform: number;
  /** 3D patch with anisotropic z: augment in-plane only (nnU-Net's do_dummy_2d_data_aug) */
  dummy2d: boolean;
  /** spatial axes (0-based over the patch) that may be mirrored */
  mirrorAxes: number[];
  pNoise: number;
  pBlur: number;
  pBrightness: number;
  pContrast: number;
  pLowRes: number;
  pGammaInverted: number;
  pGamma: number;
}
