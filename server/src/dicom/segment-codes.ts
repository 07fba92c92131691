/**
 * Segment descriptions for DICOM SEG: SNOMED-CT category/type codes for common structures, a
 * default palette, and sRGB → CIELab (D50, as the ICC profile connection space DICOM uses) scaled
 * to DICOM's 0…65535 (PS3.3 C.10.7.1.1).
 */
import { z } from 'zod';

export const codeSchema = z.object({
  CodeValue: z.string().min(1),
  CodingSchemeDesignator: z.string().min(1),
  CodeMeaning: z.string().min(1),
});
export type Code = z.infer<typeof codeSchema>;

export const segmentDescriptionSchema = z.object({
  labelValue: z.number().int().min(1).max(65535),
  name: z.string().min(1).max(64),
  category: codeSchema,
  type: codeSchema,
  typeModifier: codeSchema.optional(),
  /** sRGB 0…255 */
  color: z.tuple([z.number(), z.number(), z.number()]).optional(),
  algorithmName: z.string().optional(),
  algorithmVersion: z.string().optional(),
});
export type SegmentDescription = z.infer<typeof segmentDescriptionSchema>;

/** `labels.json` for nifti-to-seg: { version: 1, segments: [...] } or nnU-Net dataset.json-style { labels: { name: value } } */
export const labelsFileSchema = z.union([
  z.object({
    version: z.literal(1),
    segments: z.array(segmentDescriptionSchema.partial({ category: true, type: true }).extend({ labelValue: z.number().int().min(1), name: z.string().min(1) })),
  }),
  z.object({ labels: z.record(z.string(), z.union([z.number().int(), z.array(z.number().int())])) }),
]);

const sct = (CodeValue: string, CodeMeaning: string): Code => ({ CodeValue, CodingSchemeDesignator: 'SCT', CodeMeaning });
export const CATEGORY = {
  anatomicalStructure: sct('123037004', 'Anatomical Structure'),
  tissue: sct('85756007', 'Tissue'),
  morphologicallyAltered: sct('49755003', 'Morphologically Altered Structure'),
};
const LEFT = sct('7771000', 'Left');
const RIGHT = sct('24028007', 'Right');

interface KnownStructure {
  match: RegExp;
  category: Code;
  type: Code;
  modifier?: Code;
}
// Codes as used by dcmqi/TotalSegmentator mappings (SNOMED CT concept ids).
const KNOWN: KnownStructure[] = [
  { match: /^(left[ _-]?kidney|kidney[ _-]?(left|l))$/, category: CATEGORY.anatomicalStructure, type: sct('64033007', 'Kidney'), modifier: LEFT },
  { match: /^(right[ _-]?kidney|kidney[ _-]?(right|r))$/, category: CATEGORY.anatomicalStructure, type: sct('64033007', 'Kidney'), modifier: RIGHT },
  { match: /^kidneys?$/, category: CATEGORY.anatomicalStructure, type: sct('64033007', 'Kidney') },
  { match: /^liver$/, category: CATEGORY.anatomicalStructure, type: sct('10200004', 'Liver') },
  { match: /^spleen$/, category: CATEGORY.anatomicalStructure, type: sct('78961009', 'Spleen') },
  { match: /^pancreas$/, category: CATEGORY.anatomicalStructure, type: sct('15776009', 'Pancreas') },
  { match: /^(left[ _-]?lung|lung[ _-]?left)$/, category: CATEGORY.anatomicalStructure, type: sct('39607008', 'Lung'), modifier: LEFT },
  { match: /^(right[ _-]?lung|lung[ _-]?right)$/, category: CATEGORY.anatomicalStructure, type: sct('39607008', 'Lung'), modifier: RIGHT },
  { match: /^lungs?$/, category: CATEGORY.anatomicalStructure, type: sct('39607008', 'Lung') },
  { match: /^heart$/, category: CATEGORY.anatomicalStructure, type: sct('80891009', 'Heart') },
  { match: /^aorta$/, category: CATEGORY.anatomicalStructure, type: sct('15825003', 'Aorta') },
  { match: /^brain$/, category: CATEGORY.anatomicalStructure, type: sct('12738006', 'Brain') },
  { match: /^(bones?|skeleton)$/, category: CATEGORY.tissue, type: sct('272673000', 'Bone') },
  { match: /^stomach$/, category: CATEGORY.anatomicalStructure, type: sct('69695003', 'Stomach') },
  { match: /^gall[ _-]?bladder$/, category: CATEGORY.anatomicalStructure, type: sct('28231008', 'Gallbladder') },
  { match: /^(urinary[ _-]?)?bladder$/, category: CATEGORY.anatomicalStructure, type: sct('89837001', 'Urinary bladder') },
  { match: /^prostate$/, category: CATEGORY.anatomicalStructure, type: sct('41216001', 'Prostate') },
  { match: /^(o)?esophagus$/, category: CATEGORY.anatomicalStructure, type: sct('32849002', 'Esophagus') },
  { match: /^spinal[ _-]?cord$/, category: CATEGORY.anatomicalStructure, type: sct('2748008', 'Spinal cord') },
  { match: /^duodenum$/, category: CATEGORY.anatomicalStructure, type: sct('38848004', 'Duodenum') },
  { match: /^colon$/, category: CATEGORY.anatomicalStructure, type: sct('71854001', 'Colon') },
  { match: /^trachea$/, category: CATEGORY.anatomicalStructure, type: sct('44567001', 'Trachea') },
  { match: /^(tumou?r|lesion|neoplasm|cancer)s?$/, category: CATEGORY.morphologicallyAltered, type: sct('108369006', 'Neoplasm') },
];

/** Distinct colours (sRGB) cycled by label value. */
export const DEFAULT_PALETTE: [number, number, number][] = [
  [221, 130, 101], [144, 238, 144], [216, 101, 79], [128, 174, 128], [241, 214, 145], [177, 122, 101], [111, 184, 210],
  [230, 220, 70], [183, 156, 220], [255, 160, 122], [0, 151, 206], [250, 250, 225], [188, 65, 28], [216, 191, 216],
];

/** The description nnseg uses for a label: a known structure by name, else generic Tissue. */
export function describeSegment(labelValue: number, name: string, algorithm?: { name?: string; version?: string }): SegmentDescription {
  const key = name.trim().toLowerCase();
  const known = KNOWN.find((k) => k.match.test(key));
  return {
    labelValue,
    name,
    category: known?.category ?? CATEGORY.tissue,
    type: known?.type ?? sct('85756007', 'Tissue'),
    typeModifier: known?.modifier,
    color: DEFAULT_PALETTE[(labelValue - 1) % DEFAULT_PALETTE.length],
    algorithmName: algorithm?.name,
    algorithmVersion: algorithm?.version,
  };
}
