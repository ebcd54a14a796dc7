"""Checksums of Lake & Baroni's add-primitive jump split "with additional examples".

The brendenlake/SCAN repository's add_prim_split/with_additional_examples/ holds, for num = 1, 2, 4,
8, 16, 32 composed jump commands and five random draws of them (rep 1-5), a train and a test file:
tasks_{train,test}_addprim_complex_jump_num{num}_rep{rep}.txt. Each train file holds the 13,203
jump-free commands of the plain addprim_jump train set, and the bare `jump` and the num composed
commands each round(1,467 / (num + 1)) times (1,467 bare jumps in the plain file); each test file is
the plain test set without those num commands (checked by hand on all 30 pairs). The lines are in
a shuffled order the grammar cannot rebuild, so the files are fetched and verified, not generated.
"""

from __future__ import annotations

ADDPRIM_COMPLEX_DIR = "add_prim_split/with_additional_examples"

# (part, num, rep) -> SHA-256 of tasks_{part}_addprim_complex_jump_num{num}_rep{rep}.txt
ADDPRIM_COMPLEX_SHA256: dict[tuple[str, int, int], str] = {
    ("train", 1, 1): "f01bbb267a3f60f219e94196456936623e8e4bcd43c932e9d352b68f97bf215c",
    ("test", 1, 1): "4ed2d235e21599e543a8dbf3d1fbe62a983406f1621e102ded762f968a7a7a23",
    ("train", 1, 2): "73dc8a4b06b0e16033ed332ca87054a6d8d59f7aeb68d4e425ca3c1c380137d7",
    ("test", 1, 2): "635d4c2d7bcc836a8654b92fbf51fc6540a7bbd6daeb246eef76216db8603560",
    ("train", 1, 3): "b3bab95fba2c410b11ec5fef251ad0e6a65a2f6baf333b080fe5be6cb3f07769",
    ("test", 1, 3): "362fdb8aac13b0ecb912935925562334da1b6aae2ff11f8a79a138cd78c45004",
    ("train", 1, 4): "5ca17b6f2e60956ade57ddcd6244552d07ebfc8faf36c85ac9471290337dc6fc",
    ("test", 1, 4): "8328aa494245b91c8ac4819c29b001e84953a118554dcc9c37135a08832485c5",
    ("train", 1, 5): "9ab404653abeec253a62b6b06a661939dd8e6196ca1b2229755ac33ed90c18f0",
    ("test", 1, 5): "58b109b458a6aebdd9af1f303318f5cae731c810de9fa241d552c16787fbb209",
    ("train", 2, 1): "50c261b0182c376c3706236f08beff6daaedb7045096c5c4288d9c27442abc17",
    ("test", 2, 1): "1c06480c9b5a42af53d3caf0f55c3193b1021fa2bb12f44b9cb415472d54594e",
    ("train", 2, 2): "3a4ff1a672906d2c8f0921f442631a7f0d361615fa7ad2dcbf044be293e466ae",
    ("test", 2, 2): "6568a5b12f67f22596ed40a397e99a3539b3215365d707434dad7020855cad9d",
    ("train", 2, 3): "4ac0d24b228cf985edc43820085b260994dc47ca40e26472b58495431561815f",
    ("test", 2, 3): "c6de7c7eaed4c1486bb2e99a395ed8807c214c5484dc7f1277d57e00f680d2c4",
    ("train", 2, 4): "4eb47aa305711e7f3c45583e236982aa72722c34ddfa417b77501bf200801ad8",
    ("test", 2, 4): "78312dce907e73a86d511fc8cb4f7f08fab8c05471b5aa9c2c862cdcc9b082b2",
    ("train", 2, 5): "3bcdc70db2366db040f67c520bd4324e6b1c47bd3791b66923fca3adcd23e9b5",
    ("test", 2, 5): "e16bdf45b3794171554b1c4d61cab2a947998d8807d919031ef4e9e41b2265c0",
    ("train", 4, 1): "d1e4852b9adffdca1d65695cf3efc90d4375a76263c5b3279c5c8468ecdf0d58",
    ("test", 4, 1): "534fa99d56019ac486a3e1a4f96723a51f34997832fb90d8d91bb23787a056d6",
    ("train", 4, 2): "4695b4a24ed964563cf4cffdacaf569a8b3fefa6a698bf752718548232268916",
    ("test", 4, 2): "4f8cd286ce34116561eddab87e61da0a3616807934aad2e768afec714cd0c590",
    ("train", 4, 3): "c462a2b49b0ea423bcce3c3a9e1b3c48650db9fbaaf615703845e38634cba35a",
    ("test", 4, 3): "fd766ab43436682dcd7c5a4f483e844021df94705018d6f3291ca96fca55e450",
    ("train", 4, 4): "fe7fc6c8c23de1156c6deaed0988c0b42deebee9635b91016d7ce2dac7590c99",
    ("test", 4, 4): "3ce8740b761c05dd0ca0a70640e6ee74575dec8d1e7577e891a3125078a312ab",
    ("train", 4, 5): "c5afd06364fd2f0b2916c2909c4848278a4d89a5fe915a5b48988b0dfa64c680",
    ("test", 4, 5): "db78b22e038db405dfe43b91bb0835ba0c83ccad8f0d24755aaa0fefbe1b372d",
    ("train", 8, 1): "95fba59af30e3eeaceea2f35e2a75fd0bddab8aad9f8973e153c0bfc75af4ce4",
    ("test", 8, 1): "a2b940b67a1790a6240b1fd6ba59ca5fdece7a132d0bc9955c7399424b10b64c",
    ("train", 8, 2): "f601eaae18cde79ca2886f00fc993f3ec78fde29e32fd72d48027e3d6a85fc65",
    ("test", 8, 2): "da2349fe3843e1a90bba801cd8b37b332ed21bfb5259575a99ae60e52829c0ec",
    ("train", 8, 3): "3ec0de793a2eeea4bb7e8e2cffc7c2e8e28d4833bde007cb4477ec1e6ae62c9d",
    ("test", 8, 3): "74f042e7028540a20cf9fa2e9e23c74c5dda419ffba3818d38fb2f8b289c9645",
    ("train", 8, 4): "a03a54dd71ba5f56a9fcbdecfdc3996949b9e6ba78a540cfc51547d0ed75a39f",
    ("test", 8, 4): "1b075bedbc1cd2a3c629cd687eef3562bc9bce700611ecdd2c8a291f6a1c98ae",
    ("train", 8, 5): "7da9ad3d153395b09c89597bb5f523d7dab4514a19808e8c29e6794ab0769039",
    ("test", 8, 5): "d5d344b7a861783f20c037f5916e8a63b8dda9e528562e98217671c38cb9f6a0",
    ("train", 16, 1): "9f2dcbd1c24cc43aa317b0a08a84b38f8b080cc745ae5068c9d2347163f51141",
    ("test", 16, 1): "e61f89d0cf0c56c4bc5d5aba3277d56efe0b1995fbb00dbcadb58055bfb7da7f",
    ("train", 16, 2): "b648a46a60b3bcce006504b84cbeb1a5c89865dce7c6577b81a441f2fe555489",
    ("test", 16, 2): "fcd3fa8a82df6e8b62f90e3c25a56d5098727d8aa50824e33c8417363b1b47d8",
    ("train", 16, 3): "7ad80e6083740281bcd02b8f41c780f0a7d16a226e41267f0ca64d8727aa860b",
    ("test", 16, 3): "c2700f7615dac3006d3cda8f41a4a4012c03cce3a4de130833dcd97e9dec25f1",
    ("train", 16, 4): "d5e22d17306c86b85a66891539f33b6fbecaf6050476ba97095ad07165f4cb57",
    ("test", 16, 4): "e463b785d1d9adfb733a2b939cbb3b84c9633ed415e68ed1a8a1c42b9119022f",
    ("train", 16, 5): "8b89238429b27d2825f59ca4f3115005a911fdb0372920db035b403ef81f6b6b",
    ("test", 16, 5): "924edc8d7bfcda187a4ba7e1de7e7e6ca226ee0390e470d4d7843b1f330426e6",
    ("train", 32, 1): "32040baaa9361da10dbf9cefa3a846e60ca4f6de7b8e9c49a7dbe8684d780759",
    ("test", 32, 1): "7a52b45795db97b5fb4868a047b8bd65c29db86c01d4b8318ef79014d2d7d628",
    ("train", 32, 2): "35d7756da1dfd159ebd3c2a8be2bc41480df994e4a462a25c482171f85ff3bba",
    ("test", 32, 2): "01d6dcf4d024f05c21a4c2dcf921d57a5aff09c63873d4cf29911f38797cb2be",
    ("train", 32, 3): "97ce031d0d3b3375a88de618da6b25551bebdcee24868348d9b69af623bff57b",
    ("test", 32, 3): "9a36c46d0c9c4acfaffbbe9187f1016532c00daa1a49961c01cc018b6932c17d",
    ("train", 32, 4): "be69dc9e0f778f878df7a31ec7d52c4a6a9c3715c1dc35b87f4d59cc851307c5",
    ("test", 32, 4): "cea6ceca41c449c2a634b5c6075aa07100ac65cdcb2e6449568ebda1f093bfcd",
    ("train", 32, 5): "e7a2ed8e53e418b389bae9e9120c3cbeedac2d629a3744e973939b2cf2cd00d3",
    ("test", 32, 5): "4aecab5c823e96561749718a07f852d79ab44a553bb192467116b89cd7df957d",
}
