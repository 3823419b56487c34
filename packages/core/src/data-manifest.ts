/** Expected files of the public data directory (DESIGN.md section 6): path, sha256, upstream source. */
export interface DataFileSpec {
  readonly path: string;
  readonly sha256: string;
  readonly dataset: DatasetName;
}

export type DatasetName = 'toolwoz' | 'multiwoz' | 'taubench_retail';

/** Where each data set comes from upstream, and its license, so a user can fetch it themselves. */
export const DATASET_SOURCES: Readonly<
  Record<DatasetName, { readonly upstream: string; readonly license: string }>
> = {
  toolwoz: {
    upstream:
      'MultiWOZ databases (db/*_db.json) and split lists (testListFile.json, valListFile.json) from the MultiWOZ release, github.com/budzianowski/multiwoz',
    license: 'MIT (c) 2019 Pawel Budzianowski',
  },
  multiwoz: {
    upstream:
      'MultiWOZ 2.1 val.json from github.com/thu-coai/ConvLab-2 (data/multiwoz/val.json.zip); schema_2.2.json from github.com/budzianowski/multiwoz',
    license: 'MIT (MultiWOZ); ConvLab-2 lists its copy as CC BY 4.0',
  },
  taubench_retail: {
    upstream:
      'github.com/sierra-research/tau-bench (tau_bench/envs/retail/data and tasks, converted to JSON)',
    license: 'MIT (c) 2024 Sierra',
  },
};

export const DATA_FILES: readonly DataFileSpec[] = [
  {
    path: 'toolwoz/db/attraction_db.json',
    sha256: '2aacc620af4025f1eada5ec83057a866f8e8b72b529f71d2f8bf93bcdd8f8751',
    dataset: 'toolwoz',
  },
  {
    path: 'toolwoz/db/hospital_db.json',
    sha256: '51282ab30346d4e826fbdf6a668d346f4b1e72425190d62048a7c471ffba5020',
    dataset: 'toolwoz',
  },
  {
    path: 'toolwoz/db/hotel_db.json',
    sha256: '7f7d0fa564f6735b6a168a3ab72c7ca6f1180c49fa8a285bd9ebf7dac10e5e45',
    dataset: 'toolwoz',
  },
  {
    path: 'toolwoz/db/police_db.json',
    sha256: 'd9c2b200fa2dd61b04ce2fe520b0b79dfa68d8b895806cfec6e8a8d3cffa9193',
    dataset: 'toolwoz',
  },
  {
    path: 'toolwoz/db/restaurant_db.json',
    sha256: '7864b4e36027af0907d6afe9ed962fecd6c6966cd626b8ae9341708a04ea201a',
    dataset: 'toolwoz',
  },
  {
    path: 'toolwoz/db/taxi_db.json',
    sha256: '6b676ae412ef17a15c24594bec99f61ed6a18b0fbecf6ed89d409baa924b89c1',
    dataset: 'toolwoz',
  },
  {
    path: 'toolwoz/db/train_db.json',
    sha256: '4818e735bae20690f6d0d06bb2ae8eec1981c0b680258a970dc01c9073f3fec9',
    dataset: 'toolwoz',
  },
  {
    path: 'toolwoz/data/testListFile.json',
    sha256: '56fff5bf8c7b0a64fba8672241a7bdd947c3a58986bf06f46d37f33288f73ce0',
    dataset: 'toolwoz',
  },
  {
    path: 'toolwoz/data/valListFile.json',
    sha256: '8e19240b90576c3ed83a0d44ef5e7ca8916e47356662ed4621e6b39d8c327d80',
    dataset: 'toolwoz',
  },
  {
    path: 'taubench_retail/orders.json',
    sha256: '2598a12586d28f2d6bd16bc86f4c800029b6af18e0abb5c475ef5c869c11ced1',
    dataset: 'taubench_retail',
  },
  {
    path: 'taubench_retail/products.json',
    sha256: 'a9eabcc1a9742c5f5288c2779acce52b9308423383ed24706bbaf0889f762a0f',
    dataset: 'taubench_retail',
  },
  {
    path: 'taubench_retail/users.json',
    sha256: '6f4fd104cc5e80b92166c4035315c31532c6cea52a90dcdf18425ee7f87c2b82',
    dataset: 'taubench_retail',
  },
  {
    path: 'taubench_retail/MockRetailDomainEnv-few_shot.jsonl',
    sha256: '091066a735d3d2605441764e0a2c6dcc93fb6595b400ff5e354416e6c8ba4a3a',
    dataset: 'taubench_retail',
  },
  {
    path: 'taubench_retail/tasks/tasks_dev.json',
    sha256: '586523860d58aea22c51f9094d4b80ae80fbac186243a678c69fac3aa84974af',
    dataset: 'taubench_retail',
  },
  {
    path: 'taubench_retail/tasks/tasks_train.json',
    sha256: 'abdcac69b80a899468b5643cc07b3e649c67a01b3df0e1378d4aa290126bb516',
    dataset: 'taubench_retail',
  },
  {
    path: 'multiwoz/val.json',
    sha256: 'a2348fb15d649f369a240e75870d09d124409459c5d3e63bd4db9fab0d15809a',
    dataset: 'multiwoz',
  },
  {
    path: 'multiwoz/schema_2.2.json',
    sha256: 'ae9e2390f38fb967af64623c2f4f7e0c636fb377ad523b582a03161d3ddbdf68',
    dataset: 'multiwoz',
  },
];
